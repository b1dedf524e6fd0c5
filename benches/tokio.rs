//! The tokio adapters against the synchronous thread pipeline, in one run:
//! encrypt and decrypt a message (1 GiB by default) from memory to a sink,
//! `envelope::stream::tokio::{encrypt_stream, decrypt_stream}` on a
//! multi-thread runtime (2 workers) beside `encrypt_stream_parallel` /
//! `decrypt_stream_parallel` with every core. Rounds alternate between the
//! two, so both see the same load; it prints the median of each, their ratio,
//! and the load average before and after (the machine is shared).
//!
//! `cargo bench --bench tokio` (or `BENCH_SIZE_MIB=256 BENCH_ROUNDS=3 cargo
//! bench --bench tokio`). A measurement, not a test: it asserts nothing.

use std::sync::Arc;
use std::time::Instant;

use envelope::keyring::Keyring;
use envelope::stream::{available_threads, decrypt_stream_parallel, encrypt_stream_parallel};
use envelope::AlgorithmSuite;

#[path = "../tests/support/mod.rs"]
#[allow(dead_code)] // the bench uses a few of the shared helpers
mod support;

use support::fixtures::{allow_all, encrypt_options, keyring};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let size = env("BENCH_SIZE_MIB", 1024) << 20;
    let rounds = env("BENCH_ROUNDS", 5).max(1);
    let threads = available_threads();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let k = keyring();
    let shared: Arc<dyn Keyring> = Arc::new(keyring());
    let plaintext: Vec<u8> = (0..size)
        .map(|i| (i as u64).wrapping_mul(0x9e37_79b9) as u8 >> 1)
        .collect();
    println!(
        "{} MiB from memory to a sink, 64 KiB frames, raw AES-256 key; {rounds} rounds, medians; \
         {threads} threads for the pipeline, tokio multi-thread runtime with 2 workers; load average {} before",
        size >> 20,
        load()
    );
    println!("| suite | operation | sync pipeline (s) | MiB/s | tokio adapters (s) | MiB/s | tokio / sync throughput |");
    println!("|---|---|---|---|---|---|---|");
    for id in ["0x0478", "0x0578"] {
        let suite = AlgorithmSuite::parse(id).unwrap();
        let opts = encrypt_options(suite, 65536);
        let mut message = Vec::with_capacity(size + size / 16 + 4096);
        encrypt_stream_parallel(&k, &opts, &plaintext[..], &mut message, threads).unwrap();
        let (mut se, mut ae, mut sd, mut ad) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let t = Instant::now();
            encrypt_stream_parallel(&k, &opts, &plaintext[..], std::io::sink(), threads).unwrap();
            se.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            rt.block_on(envelope::stream::tokio::encrypt_stream(
                Arc::clone(&shared),
                &opts,
                &plaintext[..],
                tokio::io::sink(),
            ))
            .unwrap();
            ae.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            decrypt_stream_parallel(&k, &allow_all(), &message[..], std::io::sink(), threads).unwrap();
            sd.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            rt.block_on(envelope::stream::tokio::decrypt_stream(
                Arc::clone(&shared),
                &allow_all(),
                &message[..],
                tokio::io::sink(),
            ))
            .unwrap();
            ad.push(t.elapsed().as_secs_f64());
        }
        let mib = (size >> 20) as f64;
        for (op, s, a) in [("encrypt", &mut se, &mut ae), ("decrypt", &mut sd, &mut ad)] {
            let (s, a) = (median(s), median(a));
            println!(
                "| {id} | {op} | {s:.3} | {:.0} | {a:.3} | {:.0} | {:.2}x |",
                mib / s,
                mib / a,
                s / a
            );
        }
    }
    println!("load average {} after", load());
}
