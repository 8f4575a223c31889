//! `second-brain`: the operator CLI.
//!
//! Subcommands arrive with the issues that need them (restore, verify, inspect, config
//! validation, deploy). Today it reports its version.

use anyhow::{Result, bail};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("version") | Some("--version") => {
            println!(
                "second-brain {} (engine {})",
                env!("CARGO_PKG_VERSION"),
                engine::VERSION
            );
            Ok(())
        }
        Some("help") | Some("--help") | None => {
            println!("usage: second-brain <command>\n\ncommands:\n  version   print the version");
            Ok(())
        }
        Some(other) => bail!("unknown command {other:?}; run `second-brain help`"),
    }
}
