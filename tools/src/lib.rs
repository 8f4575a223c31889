//! The library side of the operator tools: pieces that tests in other crates start in-process.
//!
//! - [`cf_standin`]: a local stand-in for the Cloudflare API endpoints wrangler and `deploy`
//!   use, serving each deployed version in workerd on a stable local URL.
//! - [`cloudflare`]: the Cloudflare API calls of deploy, rollback, drift and report
//!   (deployments, versions, secrets' names, schedules, Analytics Engine SQL), with typed
//!   errors.
//! - [`deploy`]: a deploy (and a rollback) with health and smoke gates, as a step machine.
//! - [`drift`]: what is deployed compared with `wrangler.toml` and the repository.
//! - [`file_disk`]: the engine's `Disk` on the files of one directory, for
//!   `engine::file_storage::FileStorage` (`restore` writes its log with it; tests read it back).
//! - [`github_standin`]: the local stand-in for GitHub's OAuth web flow (the Worker's
//!   end-to-end sign-in test runs it on a thread).
//! - [`report`]: the monitoring queries (SQL), their answers, and the alerts they raise.
//! - [`s3_http`]: the blocking sender for the `backups` crate's S3 requests.
//! - [`s3_local`]: a real S3 server (s3s-fs) on a directory, checking SigV4; tests start it on
//!   port 0.
//! - [`secrets`]: the Worker's secrets, a secrets file read and checked, and what setting it
//!   adds, replaces and still misses.
//! - [`smoke`]: the checks a deployed Worker must pass, as a step machine (`second-brain
//!   smoke` drives it, and so does the deploy's smoke gate).

pub mod cf_standin;
pub mod cloudflare;
pub mod deploy;
pub mod drift;
pub mod file_disk;
pub mod github_standin;
pub mod report;
pub mod s3_http;
pub mod s3_local;
pub mod secrets;
pub mod smoke;
