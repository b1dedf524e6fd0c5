//! KMS core throughput in process: GenerateDataKey and Decrypt operations per second.
//!
//! Each iteration is one full operation against a real SQLite key store:
//! key resolution, root-key unwrap of the backing key, the per-request KDF
//! and AES-256-GCM.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use envelope::kms::{CreateKeyRequest, DecryptRequest, GenerateDataKeyRequest, Kms, KmsConfig, KmsCore};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let kms = KmsCore::open(KmsConfig::new(dir.path())).expect("key store");
    let key = kms
        .create_key(&CreateKeyRequest::default())
        .expect("create key")
        .key_metadata
        .arn;
    let context: envelope::EncryptionContext = [("purpose".to_string(), "bench".to_string())].into();
    let gdk = GenerateDataKeyRequest {
        key_id: key.clone(),
        encryption_context: context.clone(),
        number_of_bytes: Some(32),
        key_spec: None,
    };
    let blob = kms
        .generate_data_key(&gdk)
        .expect("generate data key")
        .ciphertext_blob;
    let decrypt = DecryptRequest {
        ciphertext_blob: blob,
        encryption_context: context,
        key_id: None,
        encryption_algorithm: None,
    };

    let mut g = c.benchmark_group("kms");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("GenerateDataKey", |b| {
        b.iter(|| kms.generate_data_key(&gdk).expect("gdk"))
    });
    g.bench_function("Decrypt", |b| b.iter(|| kms.decrypt(&decrypt).expect("decrypt")));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
