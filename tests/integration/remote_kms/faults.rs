//! The endpoint goes away in the middle of a directory run: what was written
//! stays whole, what failed leaves nothing, exit code 4, the endpoint named.

use std::fs;
use std::sync::atomic::Ordering;

use envelope::keyring::kms::KmsKeyring;
use envelope::kms::CreateKeyRequest;
use envelope::stream::decrypt;

use super::endpoints::{self, envelope_cmd, Proxy};
use crate::support::cli::{assert_clean, bytes, tree, Env};
use crate::support::fixtures::allow_all;

#[test]
fn the_endpoint_going_away_mid_directory_leaves_whole_files_or_none() {
    let ep = endpoints::serve();
    let upstream = ep
        .url
        .as_deref()
        .unwrap()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let key = ep
        .kms
        .create_key(&CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .arn;
    let proxy = Proxy::start(upstream);
    // Three files get their data key, then the service is gone.
    proxy.cut_after.store(3, Ordering::SeqCst);
    let env = Env::new();
    let files = 10;
    for i in 0..files {
        env.write(&format!("in/f{i:02}.txt"), &bytes(1000 + i * 37, i as u64));
    }
    let mut c = envelope_cmd();
    let out = c
        .current_dir(env.dir())
        .env("ENVELOPE_HOME", env.home())
        .args([
            "--kms-endpoint",
            &proxy.url,
            "encrypt",
            "-r",
            "-i",
            "in",
            "-o",
            "out",
            "-k",
            &key,
        ])
        .output()
        .unwrap();
    assert_clean(&out.stderr);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains(&proxy.url), "the message names the endpoint: {err}");
    assert!(proxy.count("GenerateDataKey") > 3, "{err}");

    // Every output present is a whole message of its input; no temporary file is left.
    assert!(env.path("out").is_dir(), "no output directory: {err}");
    let written = tree(&env.path("out"));
    let ring = KmsKeyring::strict(ep.kms.clone(), vec![key.clone()]).unwrap();
    let mut whole = 0;
    for (rel, data) in &written {
        let name = rel.to_string_lossy();
        let data = data
            .as_ref()
            .unwrap_or_else(|| panic!("{name}: a directory in the output"));
        let stem = name
            .strip_suffix(".encrypted")
            .unwrap_or_else(|| panic!("stray file {name}"));
        let input = fs::read(env.path(&format!("in/{stem}"))).unwrap();
        assert_eq!(
            decrypt(&ring, &allow_all(), data).unwrap().plaintext,
            input,
            "{name}"
        );
        whole += 1;
    }
    assert!((1..=3).contains(&whole), "{whole} files written: {err}");
    let failed = err.matches(&proxy.url).count();
    assert!(failed >= files - 3, "{failed} failures named: {err}");
}
