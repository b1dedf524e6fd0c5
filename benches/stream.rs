//! Throughput of frame sealing/opening and of whole messages, per suite.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::stream::{decrypt, encrypt, DecryptOptions, EncryptOptions, FrameCipher};
use envelope::{AlgorithmSuite, CommitmentPolicy};

fn frames(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    let cipher = FrameCipher::new(&[7u8; 32], &[1u8; 32]).unwrap();
    for len in [4096usize, 65536, 1 << 20] {
        let pt = vec![0x5au8; len];
        let mut sealed = Vec::with_capacity(len + 64);
        cipher.seal_frame(1, false, &pt, &mut sealed).unwrap();
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::new("seal", len), &pt, |b, pt| {
            let mut out = Vec::with_capacity(len + 64);
            b.iter(|| {
                out.clear();
                cipher.seal_frame(1, false, pt, &mut out).unwrap();
            })
        });
        g.bench_with_input(BenchmarkId::new("open", len), &sealed, |b, sealed| {
            let mut out = Vec::with_capacity(len);
            let iv = envelope::format::body::frame_iv(1);
            b.iter(|| {
                out.clear();
                cipher
                    .open_block(
                        envelope::format::body::BlockKind::Frame,
                        1,
                        &iv,
                        &sealed[16..],
                        &mut out,
                    )
                    .unwrap();
            })
        });
    }
    g.finish();
}

fn messages(c: &mut Criterion) {
    let k = RawAesKeyring::new("bench", "key", &[9u8; 32]).unwrap();
    let mut g = c.benchmark_group("message-8MiB");
    let pt = vec![0x11u8; 8 << 20];
    g.throughput(Throughput::Bytes(pt.len() as u64));
    g.sample_size(10);
    for suite in [
        &AlgorithmSuite::AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
        AlgorithmSuite::DEFAULT,
    ] {
        let opts = EncryptOptions {
            suite: Some(suite),
            ..EncryptOptions::default()
        };
        let ct = encrypt(&k, &opts, &pt).unwrap();
        let dopts = DecryptOptions {
            commitment_policy: CommitmentPolicy::RequireEncryptRequireDecrypt,
            ..DecryptOptions::default()
        };
        g.bench_function(BenchmarkId::new("encrypt", format!("{:04x}", suite.id)), |b| {
            b.iter(|| encrypt(&k, &opts, &pt).unwrap())
        });
        g.bench_function(BenchmarkId::new("decrypt", format!("{:04x}", suite.id)), |b| {
            b.iter(|| decrypt(&k, &dopts, &ct).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, frames, messages);
criterion_main!(benches);
