//! The official Rust SDK (`aws-sdk-kms` with `aws-config`) against a server
//! in this process: the scenario every client runs, each error checked by the
//! code and the typed variant the SDK surfaces.

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState};
use aws_sdk_kms::Client;

use super::support::{start, test_limits, Store};

const REGION: &str = "us-east-1";

pub async fn client(url: &str, akid: &str, secret: &str) -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(url)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(akid, secret, None, None, "test"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    Client::new(&config)
}

/// The error code of a failed SDK call.
fn code<T, E: ProvideErrorMetadata + std::fmt::Debug>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => panic!("the call succeeded; an error was expected"),
        Err(e) => e
            .code()
            .unwrap_or_else(|| panic!("no error code in {e:?}"))
            .to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_sdk_runs_the_key_lifecycle() {
    let store = Store::new();
    let server = start(store.open(), test_limits());
    let kms = client(server.url(), "test", "test").await;

    // create-key, create-alias, describe-key by alias
    let meta = kms
        .create_key()
        .description("rust sdk")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let key = meta.key_id().to_owned();
    let arn = meta.arn().unwrap().to_owned();
    assert_eq!(arn, format!("arn:aws:kms:{REGION}:111122223333:key/{key}"));
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    let other = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .arn
        .unwrap();
    kms.create_alias()
        .alias_name("alias/rust")
        .target_key_id(&key)
        .send()
        .await
        .unwrap();
    let by_alias = kms.describe_key().key_id("alias/rust").send().await.unwrap();
    assert_eq!(by_alias.key_metadata.unwrap().key_id, key);
    let e = kms
        .create_alias()
        .alias_name("alias/rust")
        .target_key_id(&key)
        .send()
        .await;
    assert_eq!(code(e), "AlreadyExistsException");

    // encrypt/decrypt, with and without context, 4096 bytes; 4097 refused
    for with_context in [false, true] {
        let pt = vec![0xa5u8; 4096];
        let mut req = kms
            .encrypt()
            .key_id("alias/rust")
            .plaintext(Blob::new(pt.clone()));
        if with_context {
            req = req.encryption_context("purpose", "sdk");
        }
        let out = req.send().await.unwrap();
        assert_eq!(out.key_id(), Some(arn.as_str()));
        let blob = out.ciphertext_blob.unwrap();
        let mut dec = kms.decrypt().ciphertext_blob(blob.clone());
        if with_context {
            dec = dec.encryption_context("purpose", "sdk");
        }
        assert_eq!(dec.send().await.unwrap().plaintext.unwrap().into_inner(), pt);
        if with_context {
            let e = kms.decrypt().ciphertext_blob(blob).send().await;
            let e = e.unwrap_err().into_service_error();
            assert!(e.is_invalid_ciphertext_exception(), "{e:?}");
        }
    }
    let e = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(vec![0u8; 4097]))
        .send()
        .await;
    assert_eq!(code(e), "ValidationException");

    // generate-data-key
    let dk = kms
        .generate_data_key()
        .key_id(&arn)
        .key_spec(DataKeySpec::Aes256)
        .encryption_context("k", "v")
        .send()
        .await
        .unwrap();
    let plaintext = dk.plaintext.unwrap().into_inner();
    assert_eq!(plaintext.len(), 32);
    let opened = kms
        .decrypt()
        .ciphertext_blob(dk.ciphertext_blob.clone().unwrap())
        .encryption_context("k", "v")
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext.unwrap().into_inner(), plaintext);
    let e = kms
        .decrypt()
        .key_id(&other)
        .ciphertext_blob(dk.ciphertext_blob.unwrap())
        .encryption_context("k", "v")
        .send()
        .await;
    assert!(e.unwrap_err().into_service_error().is_incorrect_key_exception());

    // re-encrypt
    let blob = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"move me".to_vec()))
        .send()
        .await
        .unwrap();
    let moved = kms
        .re_encrypt()
        .ciphertext_blob(blob.ciphertext_blob.unwrap())
        .destination_key_id(&other)
        .destination_encryption_context("new", "ctx")
        .send()
        .await
        .unwrap();
    assert_eq!(moved.source_key_id(), Some(arn.as_str()));
    assert_eq!(moved.key_id(), Some(other.as_str()));
    let back = kms
        .decrypt()
        .ciphertext_blob(moved.ciphertext_blob.unwrap())
        .encryption_context("new", "ctx")
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext.unwrap().into_inner(), b"move me");

    // rotation: the older ciphertext still decrypts
    let old = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"old".to_vec()))
        .send()
        .await
        .unwrap();
    kms.rotate_key_on_demand().key_id(&key).send().await.unwrap();
    let old_opened = kms
        .decrypt()
        .ciphertext_blob(old.ciphertext_blob.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(old_opened.plaintext.unwrap().into_inner(), b"old");

    // disable
    kms.disable_key().key_id(&key).send().await.unwrap();
    let e = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await;
    let e = e.unwrap_err().into_service_error();
    assert!(e.is_disabled_exception(), "{e:?}");
    kms.enable_key().key_id(&key).send().await.unwrap();

    // schedule deletion
    let s = kms
        .schedule_key_deletion()
        .key_id(&other)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(s.key_state(), Some(&KeyState::PendingDeletion));
    let e = kms
        .encrypt()
        .key_id(&other)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await;
    assert!(e
        .unwrap_err()
        .into_service_error()
        .is_kms_invalid_state_exception());
    kms.cancel_key_deletion().key_id(&other).send().await.unwrap();
    let m = kms
        .describe_key()
        .key_id(&other)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(m.key_state(), Some(&KeyState::Disabled));

    // not found: unknown key, other region's ARN
    let e = kms
        .describe_key()
        .key_id("11111111-2222-4333-8444-555555555555")
        .send()
        .await;
    assert!(e.unwrap_err().into_service_error().is_not_found_exception());
    let e = kms
        .describe_key()
        .key_id(format!("arn:aws:kms:eu-west-1:111122223333:key/{key}"))
        .send()
        .await;
    assert_eq!(code(e), "NotFoundException");
    // an operation of the AWS API the core lacks
    let e = kms.list_grants().key_id(&key).send().await;
    assert_eq!(code(e), "UnsupportedOperationException");
    server.shutdown().unwrap();
}
