//! `second-brain s3-local`: a real S3 server on a local directory, for tests and local runs.
//!
//! It runs [s3s-fs] in-process: buckets are the directories directly under `--dir` (create one
//! before starting, or with `CreateBucket`), objects are files. Every request must be signed
//! with SigV4 for the one access key it is given (wrong secret: 403 `SignatureDoesNotMatch`;
//! more than 15 minutes of clock skew: refused). It listens on loopback by default and prints
//! `listening on http://HOST:PORT` once it accepts connections.
//!
//! Tests start it with [`spawn`] (port 0) and stop it by dropping the [`S3Local`].
//!
//! [s3s-fs]: https://docs.rs/s3s-fs/0.14.1

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow, ensure};
use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::{S3Service, S3ServiceBuilder};
use tokio::sync::oneshot;

/// Arguments of `s3-local`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory that holds the buckets (one subdirectory each); must exist.
    #[arg(long)]
    dir: PathBuf,
    /// Port to listen on (0 picks a free one; the URL is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The only access key id the server accepts.
    #[arg(long)]
    access_key: String,
    /// Its secret key (a local test value, not a real credential).
    #[arg(long)]
    secret_key: String,
    /// The address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    host: IpAddr,
}

pub fn run(args: &Args) -> Result<()> {
    let server = S3Local::start(&Config {
        dir: args.dir.clone(),
        host: args.host,
        port: args.port,
        access_key: args.access_key.clone(),
        secret_key: args.secret_key.clone(),
    })?;
    println!("listening on {}", server.url());
    server.wait()
}

/// What the server serves and whom it lets in.
#[derive(Clone)]
pub struct Config {
    /// The directory holding the buckets.
    pub dir: PathBuf,
    /// The address to listen on.
    pub host: IpAddr,
    /// The port (0: any free one).
    pub port: u16,
    /// The access key id.
    pub access_key: String,
    /// The secret key.
    pub secret_key: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("dir", &self.dir)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// Starts a server on `127.0.0.1` and a free port, for tests.
pub fn spawn(dir: &Path, access_key: &str, secret_key: &str) -> Result<S3Local> {
    S3Local::start(&Config {
        dir: dir.to_owned(),
        host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        access_key: access_key.to_owned(),
        secret_key: secret_key.to_owned(),
    })
}

/// A running server. Dropping it stops it.
#[derive(Debug)]
pub struct S3Local {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl S3Local {
    /// Binds the address and serves on a thread of its own, until dropped.
    pub fn start(config: &Config) -> Result<Self> {
        ensure!(
            !config.access_key.is_empty() && !config.secret_key.is_empty(),
            "s3-local needs an access key and a secret key (without them s3s accepts anyone)"
        );
        ensure!(
            config.dir.is_dir(),
            "{} is not a directory",
            config.dir.display()
        );
        let service = service(config)?;
        let listener = TcpListener::bind((config.host, config.port))
            .with_context(|| format!("binding {}:{}", config.host, config.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the s3-local runtime")?;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("s3-local".to_owned())
            .spawn(move || runtime.block_on(serve(listener, service, stopped)))?;
        Ok(S3Local {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`, the endpoint for an S3 client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves until the process ends.
    pub fn wait(mut self) -> Result<()> {
        if let Some(thread) = self.thread.take() {
            thread
                .join()
                .map_err(|_| anyhow!("the s3-local thread panicked"))?;
        }
        Ok(())
    }
}

impl Drop for S3Local {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn service(config: &Config) -> Result<S3Service> {
    let fs = s3s_fs::FileSystem::new(&config.dir)
        .map_err(|error| anyhow!("opening {}: {error:?}", config.dir.display()))?;
    let mut builder = S3ServiceBuilder::new(fs);
    builder.set_auth(SimpleAuth::from_single(
        config.access_key.clone(),
        config.secret_key.clone(),
    ));
    Ok(builder.build())
}

/// Accepts connections until `stopped` fires; each is served on a task of its own.
async fn serve(listener: TcpListener, service: S3Service, mut stopped: oneshot::Receiver<()>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(_) => continue,
            },
            _ = &mut stopped => return,
        };
        let service = service.clone();
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service);
            // A client that goes away mid-request is its own problem.
            let _ = connection.await;
        });
    }
}
