//! Throughput of the streaming engine, per algorithm suite:
//!
//! * `frame`: sealing and opening one frame of 4 KiB, 64 KiB and 1 MiB;
//! * `stream`: whole 128 MiB messages through `encrypt_stream_parallel` /
//!   `decrypt_stream_parallel`, single-threaded and on every core (the
//!   first 16 MiB always go through on the calling thread);
//! * `one-shot-1KiB`: small messages with `encrypt` / `decrypt`, per second
//!   (key wrapping, key derivation and, for signing suites, ECDSA dominate).
//!
//! `cargo bench --bench stream -- frame/seal` runs a subset. `benches/compare.sh`
//! measures the command-line tool against the Python ESDK and the floors.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use envelope::internal::body::{frame_iv, BlockKind, REGULAR_FRAME_HEADER_LEN};
use envelope::internal::ContentCipher;
use envelope::stream::{
    available_threads, decrypt, decrypt_stream_parallel, encrypt, encrypt_stream_parallel,
    DEFAULT_FRAME_LENGTH,
};
use envelope::AlgorithmSuite;

/// The tests' fixtures, so that the bench measures what the tests check.
#[path = "../tests/support/mod.rs"]
#[allow(dead_code)] // the bench uses a few of the shared helpers
mod support;

use support::fixtures::{allow_all, encrypt_options, keyring};

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

fn suite_id(suite: &AlgorithmSuite) -> String {
    format!("{:04x}", suite.id)
}

fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    for suite in AlgorithmSuite::ALL {
        let cipher = ContentCipher::new(&[7u8; 32][..suite.key_len], &[1u8; 32][..suite.message_id_len()])
            .expect("valid key and message id");
        for len in [4 * KIB, 64 * KIB, MIB] {
            let pt = vec![0x5au8; len];
            let mut sealed = Vec::with_capacity(len + 64);
            cipher.seal_frame(1, false, &pt, &mut sealed).expect("seal");
            let id = format!("{}/{}KiB", suite_id(suite), len / KIB);
            g.throughput(Throughput::Bytes(len as u64));
            g.bench_with_input(BenchmarkId::new("seal", &id), &pt, |b, pt| {
                let mut out = Vec::with_capacity(len + 64);
                b.iter(|| {
                    out.clear();
                    cipher.seal_frame(1, false, pt, &mut out).expect("seal");
                })
            });
            g.bench_with_input(BenchmarkId::new("open", &id), &sealed, |b, sealed| {
                let mut out = Vec::with_capacity(len);
                let iv = frame_iv(1);
                b.iter(|| {
                    out.clear();
                    cipher
                        .open_block(
                            BlockKind::Frame,
                            1,
                            &iv,
                            &sealed[REGULAR_FRAME_HEADER_LEN..],
                            &mut out,
                        )
                        .expect("open");
                })
            });
        }
    }
    g.finish();
}

fn streams(c: &mut Criterion) {
    let k = keyring();
    let mut g = c.benchmark_group("stream");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    let pt = vec![0x11u8; 128 * MIB];
    g.throughput(Throughput::Bytes(pt.len() as u64));
    let mut thread_counts = vec![1, available_threads()];
    thread_counts.dedup();
    for suite in AlgorithmSuite::ALL {
        let opts = encrypt_options(suite, DEFAULT_FRAME_LENGTH);
        let ct = encrypt(&k, &opts, &pt).expect("encrypt");
        for &threads in &thread_counts {
            let id = format!("{}/threads={threads}", suite_id(suite));
            g.bench_function(BenchmarkId::new("encrypt", &id), |b| {
                b.iter(|| {
                    encrypt_stream_parallel(&k, &opts, &pt[..], std::io::sink(), threads).expect("encrypt")
                })
            });
            g.bench_function(BenchmarkId::new("decrypt", &id), |b| {
                b.iter(|| {
                    decrypt_stream_parallel(&k, &allow_all(), &ct[..], std::io::sink(), threads)
                        .expect("decrypt")
                })
            });
        }
    }
    g.finish();
}

fn one_shot(c: &mut Criterion) {
    let k = keyring();
    let mut g = c.benchmark_group("one-shot-1KiB");
    g.warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20);
    // Messages per second.
    g.throughput(Throughput::Elements(1));
    let pt = vec![0x22u8; KIB];
    for suite in AlgorithmSuite::ALL {
        let opts = encrypt_options(suite, DEFAULT_FRAME_LENGTH);
        let ct = encrypt(&k, &opts, &pt).expect("encrypt");
        g.bench_function(BenchmarkId::new("encrypt", suite_id(suite)), |b| {
            b.iter(|| encrypt(&k, &opts, &pt).expect("encrypt"))
        });
        g.bench_function(BenchmarkId::new("decrypt", suite_id(suite)), |b| {
            b.iter(|| decrypt(&k, &allow_all(), &ct).expect("decrypt"))
        });
    }
    g.finish();
}

criterion_group!(benches, frames, streams, one_shot);
criterion_main!(benches);
