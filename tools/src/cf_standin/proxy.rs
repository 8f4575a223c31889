//! A script's stable served URL: a reverse proxy on its own loopback port that forwards each
//! request, as it came, to the `wrangler dev` of the version being served, and streams the
//! answer back. While a switch is under way it holds requests (bounded); with nothing to serve
//! it answers 503, after a failed switch 502 with the reason.

use std::convert::Infallible;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use super::error::ServeError;

/// How long a request waits for a switch to finish (a `wrangler dev` start), polled every
/// 100 ms.
const HOLD_POLLS: u32 = 1_200;

/// What the proxy forwards to.
#[derive(Debug, Clone)]
enum Target {
    /// No deployment yet.
    Nothing,
    /// A version is being started: wait.
    Switching,
    /// This port serves this version.
    Serving { port: u16, version_id: String },
    /// The last switch failed.
    Failed(String),
}

/// The proxy's target, shared with the serving side.
#[derive(Debug)]
pub(crate) struct Upstream {
    target: Mutex<Target>,
}

impl Upstream {
    fn set(&self, target: Target) {
        *self
            .target
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = target;
    }

    fn get(&self) -> Target {
        self.target
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Holds requests until [`serve`](Self::serve) or [`fail`](Self::fail).
    pub(crate) fn hold(&self) {
        self.set(Target::Switching);
    }

    pub(crate) fn serve(&self, port: u16, version_id: &str) {
        self.set(Target::Serving {
            port,
            version_id: version_id.to_owned(),
        });
    }

    pub(crate) fn fail(&self, reason: String) {
        self.set(Target::Failed(reason));
    }

    pub(crate) fn serving_version(&self) -> Option<String> {
        match self.get() {
            Target::Serving { version_id, .. } => Some(version_id),
            _ => None,
        }
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

/// Binds a loopback port and forwards from it on `runtime`, until the runtime stops.
pub(crate) fn start(
    runtime: &tokio::runtime::Handle,
) -> Result<(String, Arc<Upstream>), ServeError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(ServeError::Bind)?;
    listener.set_nonblocking(true).map_err(ServeError::Bind)?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(ServeError::Bind)?
    );
    let upstream = Arc::new(Upstream {
        target: Mutex::new(Target::Nothing),
    });
    let shared = Arc::clone(&upstream);
    let _guard = runtime.enter();
    let listener = tokio::net::TcpListener::from_std(listener).map_err(ServeError::Bind)?;
    runtime.spawn(accept(listener, shared));
    Ok((url, upstream))
}

async fn accept(listener: tokio::net::TcpListener, upstream: Arc<Upstream>) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        let upstream = Arc::clone(&upstream);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let upstream = Arc::clone(&upstream);
                async move { Ok::<_, Infallible>(forward(&upstream, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), service)
                .await;
        });
    }
}

async fn forward(upstream: &Upstream, request: Request<Incoming>) -> Response<Body> {
    let mut target = upstream.get();
    for _ in 0..HOLD_POLLS {
        if !matches!(target, Target::Switching) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        target = upstream.get();
    }
    let port = match target {
        Target::Serving { port, .. } => port,
        Target::Nothing => return text(503, "no version of this Worker is deployed"),
        Target::Switching => return text(503, "the deployment is still switching versions"),
        Target::Failed(reason) => return text(502, &reason),
    };
    let stream = match tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await {
        Ok(stream) => stream,
        Err(error) => return text(502, &format!("the served version is unreachable: {error}")),
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(error) => return text(502, &format!("the served version is unreachable: {error}")),
        };
    tokio::spawn(connection);
    match sender.send_request(request).await {
        Ok(response) => response.map(BodyExt::boxed),
        Err(error) => text(502, &format!("the served version failed: {error}")),
    }
}

fn text(status: u16, message: &str) -> Response<Body> {
    let body = Full::new(Bytes::from(format!("{message}\n")))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
