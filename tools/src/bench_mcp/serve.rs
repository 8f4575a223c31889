//! The local Worker as a child process, for cold starts: started with a shell command in its
//! own process group, stopped by signalling that group (wrangler starts workerd as a child;
//! stopping only wrangler would leave workerd holding the port).

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How long a start may take before `/health` answers.
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a stop may take before the port is free.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A Worker this process started.
#[derive(Debug)]
pub(crate) struct Server {
    command: String,
    port: u16,
    addr: SocketAddr,
    health: reqwest::Url,
    child: Option<Child>,
    /// Where the Worker's output goes (appended), when kept.
    log: Option<std::path::PathBuf>,
}

impl Server {
    /// A server that `command` (run by `sh -c`, with `PORT` set) serves at `base`.
    pub(crate) fn new(command: &str, base: &reqwest::Url) -> Result<Server> {
        let port = base
            .port_or_known_default()
            .context("the URL has no port")?;
        let addr = (base.host_str().unwrap_or("127.0.0.1"), port)
            .to_socket_addrs()?
            .next()
            .context("the URL's host does not resolve")?;
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            bail!("something already serves {addr}: stop it, or run without --serve");
        }
        Ok(Server {
            command: command.to_owned(),
            port,
            addr,
            health: base.join("/health")?,
            child: None,
            log: None,
        })
    }

    /// Keeps the Worker's output (its log lines) in `path`, appended across starts.
    pub(crate) fn with_log(mut self, path: &std::path::Path) -> Server {
        self.log = Some(path.to_owned());
        self
    }

    /// Starts the command and waits until `/health` answers 200; how long that took.
    /// `no_build` sets `DEV_NO_BUILD=1`, which `scripts/dev.sh` reads as "the bundle is
    /// built: start at once".
    pub(crate) fn start(&mut self, no_build: bool) -> Result<Duration> {
        let started = Instant::now();
        let mut command = Command::new("sh");
        let (stdout, stderr) = match &self.log {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?;
                (Stdio::from(file.try_clone()?), Stdio::from(file))
            }
            None => (Stdio::null(), Stdio::null()),
        };
        command
            .args(["-c", &self.command])
            .env("PORT", self.port.to_string())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0);
        if no_build {
            command.env("DEV_NO_BUILD", "1");
        }
        self.child = Some(command.spawn().context("starting the Worker")?);
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        while started.elapsed() < START_TIMEOUT {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!("the Worker command exited ({status}) before serving");
            }
            if client
                .get(self.health.clone())
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("the Worker did not answer /health within {START_TIMEOUT:?}")
    }

    /// Stops the process group and waits until the port is free.
    pub(crate) fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let group = child.id();
        signal_group(group, "TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Give the group a moment to exit on its own, then make sure none of it is left.
        let grace = Instant::now() + Duration::from_secs(5);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < grace {
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(group, "KILL");
        let _ = child.wait();
        if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
            bail!("{} is still served after stopping the Worker", self.addr);
        }
        Ok(())
    }
}

/// Sends `signal` to the process group `group` (one this process started).
fn signal_group(group: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status();
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
