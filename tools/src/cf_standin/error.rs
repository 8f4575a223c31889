//! The API's error answers, each with the status and code the real Cloudflare API gives, and
//! the stand-in's own failures.
//!
//! Codes: 10000 (authentication), 971 (rate limited), 10007 (Worker not found; wrangler's
//! `isWorkerNotFoundError` checks it), 10215 (a secret edit while the latest version is not
//! deployed; wrangler's `VERSION_NOT_DEPLOYED_ERR_CODE`) and 7000/7003 (no route) are the real
//! API's. 10071 (Worker version not found), 10056 (secret not found) and 10085 (R2 bucket not
//! found) are the codes a generated Cloudflare client types those errors with; their messages are
//! the stand-in's own wording.

use serde_json::{Value, json};

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No token, or not the one the stand-in was given.
    #[error("Authentication error")]
    Unauthorized,
    /// The token is good but the account is not the stand-in's.
    #[error("Unauthorized to access requested resource")]
    AccountForbidden,
    /// The rate-limit knob is armed.
    #[error("Please wait and consider throttling your request speed")]
    RateLimited,
    /// No such Worker script.
    #[error("This Worker does not exist on your account.")]
    ScriptNotFound(String),
    /// No such version of the script.
    #[error("The version {0} of this Worker does not exist.")]
    VersionNotFound(String),
    /// No such secret on the script.
    #[error("The secret {0} does not exist on this Worker.")]
    SecretNotFound(String),
    /// No such R2 bucket.
    #[error("The specified bucket does not exist.")]
    BucketNotFound(String),
    /// A secret edit would deploy, but the latest version is not the deployed one.
    #[error(
        "The latest version of this Worker is not deployed; deploy it before editing secrets, or upload a version with the new secrets."
    )]
    LatestVersionNotDeployed,
    /// The body or parameters do not make sense.
    #[error("{0}")]
    BadRequest(String),
    /// No route for the path.
    #[error("No route for that URI")]
    NoRoute,
    /// The path exists, not with this method.
    #[error("Method not allowed")]
    MethodNotAllowed,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::Unauthorized => 401,
            ApiError::AccountForbidden => 403,
            ApiError::RateLimited => 429,
            ApiError::ScriptNotFound(_)
            | ApiError::VersionNotFound(_)
            | ApiError::SecretNotFound(_)
            | ApiError::BucketNotFound(_)
            | ApiError::NoRoute => 404,
            ApiError::LatestVersionNotDeployed | ApiError::BadRequest(_) => 400,
            ApiError::MethodNotAllowed => 405,
        }
    }

    /// The code in the envelope's `errors`.
    pub fn code(&self) -> u32 {
        match self {
            ApiError::Unauthorized => 10000,
            ApiError::AccountForbidden => 9109,
            ApiError::RateLimited => 971,
            ApiError::ScriptNotFound(_) => 10007,
            ApiError::VersionNotFound(_) => 10071,
            ApiError::SecretNotFound(_) => 10056,
            ApiError::BucketNotFound(_) => 10085,
            ApiError::LatestVersionNotDeployed => 10215,
            ApiError::BadRequest(_) => 10001,
            ApiError::NoRoute => 7000,
            ApiError::MethodNotAllowed => 7001,
        }
    }

    /// The whole error envelope.
    pub fn envelope(&self) -> Value {
        json!({
            "success": false,
            "errors": [{"code": self.code(), "message": self.to_string()}],
            "messages": [],
            "result": null,
        })
    }
}

/// Why the stand-in could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The API's port could not be bound.
    #[error("binding 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    /// The runtime or its thread did not start.
    #[error("starting the stand-in's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// A setting is unusable.
    #[error("{0}")]
    Config(String),
}

/// Why a version could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Writing the version's directory failed.
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A module's name would leave the version's directory.
    #[error("module name {0:?} is not a relative path inside the bundle")]
    ModuleName(String),
    /// `wrangler dev` did not start.
    #[error("starting wrangler dev: {0}")]
    Spawn(#[source] std::io::Error),
    /// `wrangler dev` could not take its port (another process took it first).
    #[error("wrangler dev lost its port; the end of its log:\n{0}")]
    PortTaken(String),
    /// The version failed to start in workerd (wrangler dev logged an error or exited).
    #[error("the version failed to start; the end of wrangler dev's log:\n{0}")]
    Startup(String),
    /// `wrangler dev` did not serve in time.
    #[error("wrangler dev did not serve within {seconds} s; the end of its log:\n{log}")]
    Timeout { seconds: u64, log: String },
    /// A proxy port could not be bound.
    #[error("binding the served URL's port: {0}")]
    Bind(#[source] std::io::Error),
}
