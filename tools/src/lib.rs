//! The library side of the operator tools: pieces that tests in other crates start in-process.
//!
//! - [`github_standin`]: the local stand-in for GitHub's OAuth web flow (the Worker's
//!   end-to-end sign-in test runs it on a thread).

pub mod github_standin;
