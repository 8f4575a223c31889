//! End-to-end tests: the real Worker bundle in workerd (`wrangler dev`), driven over loopback.
//!
//! Build the bundle first (`scripts/build-worker.sh`); `scripts/test.sh` does everything.

mod local_worker;

mod alarm;
mod archive;
mod backup;
mod cold_start;
mod dev_access;
mod do_storage;
mod grep;
mod health;
mod hostile;
mod idle;
mod limits;
mod mcp;
mod protocol;
mod resources;
mod retries;
mod routing;
mod scale;
mod scale_measure;
mod signed_in;
mod signin;
mod streams;
mod telemetry;
