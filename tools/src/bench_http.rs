//! `second-brain bench-http`: latency of one URL under a bounded loop.
//!
//! The loop is bounded in count and in time, and refuses any host but loopback.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

/// Arguments of `bench-http`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The URL to GET; must be on 127.0.0.0/8, ::1 or localhost.
    url: String,
    /// Requests per client, after the warm-up.
    #[arg(long, default_value_t = 1000)]
    requests: u32,
    /// Concurrent clients (threads), each sending `--requests`.
    #[arg(long, default_value_t = 1)]
    clients: u32,
    /// Requests per client sent first and not measured.
    #[arg(long, default_value_t = 50)]
    warmup: u32,
    /// Stop after this many seconds even if requests remain.
    #[arg(long, default_value_t = 120)]
    max_seconds: u64,
}

pub(crate) fn run(args: &Args) -> Result<()> {
    let url = reqwest::Url::parse(&args.url).context("parsing the URL")?;
    ensure!(
        is_loopback(&url),
        "{url} is not a loopback address: load runs stay on this machine"
    );
    ensure!(
        args.clients >= 1 && args.clients <= 64,
        "--clients must be from 1 to 64"
    );
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);

    let started = Instant::now();
    let handles: Vec<_> = (0..args.clients)
        .map(|_| {
            let url = url.clone();
            let (requests, warmup) = (args.requests, args.warmup);
            std::thread::spawn(move || client_loop(url, warmup, requests, deadline))
        })
        .collect();
    let mut samples = Vec::new();
    let mut errors = 0u32;
    for handle in handles {
        let (client_samples, client_errors) = handle
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        samples.extend(client_samples);
        errors += client_errors;
    }
    let wall = started.elapsed();
    if samples.is_empty() {
        bail!("no request succeeded ({errors} failed)");
    }
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 * p).ceil() as usize).saturating_sub(1)];
    println!(
        "{url}: {} ok, {errors} failed, {} clients; p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.0} req/s",
        samples.len(),
        args.clients,
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(*samples.last().unwrap_or(&Duration::ZERO)),
        samples.len() as f64 / wall.as_secs_f64(),
    );
    Ok(())
}

fn client_loop(
    url: reqwest::Url,
    warmup: u32,
    requests: u32,
    deadline: Instant,
) -> Result<(Vec<Duration>, u32)> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut samples = Vec::with_capacity(requests as usize);
    let mut errors = 0;
    for i in 0..warmup + requests {
        if Instant::now() > deadline {
            break;
        }
        let sent = Instant::now();
        let ok = client
            .get(url.clone())
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.bytes())
            .is_ok();
        let took = sent.elapsed();
        if i >= warmup {
            if ok {
                samples.push(took);
            } else {
                errors += 1;
            }
        }
    }
    Ok((samples, errors))
}

/// Whether `url`'s host is loopback (load runs never leave the machine).
pub(crate) fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_are_accepted() {
        for ok in [
            "http://127.0.0.1:8787/health",
            "http://localhost/",
            "http://[::1]:1/",
            "http://127.1.2.3/",
        ] {
            assert!(is_loopback(&reqwest::Url::parse(ok).unwrap()), "{ok}");
        }
        for bad in [
            "http://10.0.0.1/",
            "http://example.com/",
            "http://192.168.1.1/",
        ] {
            assert!(!is_loopback(&reqwest::Url::parse(bad).unwrap()), "{bad}");
        }
    }
}
