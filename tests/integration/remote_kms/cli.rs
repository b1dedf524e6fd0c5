//! The CLI's choice of key service: `--kms-endpoint` (and its two
//! variables), `--kms aws|embedded`, `-w region=`/`profile=`, `-v` naming
//! the service, `envelope kms <operation>` remotely, and the refusals.

use std::net::TcpListener;
use std::process::Output;

use envelope::kms::{CreateAliasRequest, CreateKeyRequest};

use super::endpoints::{self, envelope_cmd, REGION};
use crate::support::cli::{assert_clean, Env};

fn run(env: &Env, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = envelope_cmd();
    c.env("ENVELOPE_HOME", env.home()).current_dir(env.dir());
    for (k, v) in vars {
        c.env(k, v);
    }
    let out = c.args(args).output().unwrap();
    assert_clean(&out.stderr);
    out
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "failed ({:?}): {}",
        o.status.code(),
        stderr(&o)
    );
    o
}

#[test]
fn encrypt_and_decrypt_through_an_endpoint_and_say_so() {
    let ep = endpoints::serve();
    let url = ep.url.clone().unwrap();
    let key = ep
        .kms
        .create_key(&CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    ep.kms
        .create_alias(&CreateAliasRequest {
            alias_name: "alias/cli".into(),
            target_key_id: key.key_id.clone(),
        })
        .unwrap();
    let env = Env::new();
    env.write("f.txt", b"remote payload");
    let out = ok(run(
        &env,
        &[],
        &[
            "-v",
            "--kms-endpoint",
            &url,
            "encrypt",
            "-k",
            &key.arn,
            "-i",
            "f.txt",
            "-o",
            "f.enc",
        ],
    ));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("key service: the KMS endpoint {url}")),
        "{err}"
    );
    assert!(!err.contains("embedded"), "{err}");
    // No key store was made: the keys are the endpoint's.
    assert!(!env.home().exists());

    // The two variables choose the endpoint too; decrypt finds the key in the message.
    for var in ["ENVELOPE_KMS_ENDPOINT", "AWS_ENDPOINT_URL_KMS"] {
        let out = ok(run(
            &env,
            &[(var, &url)],
            &["-v", "decrypt", "-i", "f.enc", "-o", "-"],
        ));
        assert_eq!(out.stdout, b"remote payload", "{var}");
        assert!(stderr(&out).contains(&url), "{var}: {}", stderr(&out));
    }
    // Strict decrypt by alias: described once, then matched by ARN.
    let out = ok(run(
        &env,
        &[],
        &[
            "--kms-endpoint",
            &url,
            "decrypt",
            "-w",
            "key=alias/cli",
            "region=us-east-1",
            "-i",
            "f.enc",
            "-o",
            "-",
        ],
    ));
    assert_eq!(out.stdout, b"remote payload");
    // An alias with no region anywhere: the run says how to give one.
    let out = run(
        &env,
        &[],
        &[
            "--kms-endpoint",
            &url,
            "encrypt",
            "-k",
            "alias/cli",
            "-i",
            "f.txt",
            "-o",
            "g.enc",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("region"), "{}", stderr(&out));
    let out = ok(run(
        &env,
        &[],
        &[
            "--kms-endpoint",
            &url,
            "--kms-region",
            REGION,
            "encrypt",
            "-k",
            "alias/cli",
            "-i",
            "f.txt",
            "-o",
            "g.enc",
        ],
    ));
    assert!(out.status.success());
    // A key the service does not have: AWS's name, exit 4.
    let missing = key
        .arn
        .replace(&key.key_id, "00000000-0000-4000-8000-000000000000");
    let out = run(
        &env,
        &[],
        &[
            "--kms-endpoint",
            &url,
            "encrypt",
            "-k",
            &missing,
            "-i",
            "f.txt",
            "-o",
            "h.enc",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("NotFoundException"), "{}", stderr(&out));
}

#[test]
fn a_key_arn_outside_the_key_store_needs_a_choice() {
    let env = Env::new();
    env.write("f.txt", b"x");
    let arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    // Without a key store, and with one (the default key makes it).
    for _ in 0..2 {
        let out = run(&env, &[], &["encrypt", "-k", arn, "-i", "f.txt", "-o", "f.enc"]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("--kms aws") && err.contains("--kms-endpoint"),
            "{err}"
        );
        assert!(!env.path("f.enc").exists());
        ok(run(
            &env,
            &[],
            &["encrypt", "-i", "f.txt", "-o", "default.enc", "-f"],
        ));
    }
    // Said explicitly: the key store is asked, and has no such key.
    let out = run(
        &env,
        &[],
        &[
            "--kms", "embedded", "encrypt", "-k", arn, "-i", "f.txt", "-o", "f.enc",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("NotFoundException"), "{}", stderr(&out));
    // Contradictions and key-store words for a remote service are usage errors.
    for args in [
        &[
            "--kms",
            "aws",
            "--kms-endpoint",
            "http://127.0.0.1:9",
            "encrypt",
            "-i",
            "f.txt",
        ][..],
        &[
            "--kms",
            "embedded",
            "--kms-endpoint",
            "http://127.0.0.1:9",
            "encrypt",
            "-i",
            "f.txt",
        ],
        &[
            "--kms-region",
            "us-east-1",
            "encrypt",
            "-i",
            "f.txt",
            "-o",
            "r.enc",
        ],
        &[
            "encrypt",
            "-w",
            "key=alias/x",
            "region=us-east-1",
            "-i",
            "f.txt",
            "-o",
            "r.enc",
        ],
        &["--kms", "aws", "kms", "serve"],
        &["--kms", "aws", "encrypt", "-i", "f.txt", "-o", "r.enc"],
    ] {
        let out = run(&env, &[], args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    // The help says how the choice is made.
    let help = String::from_utf8_lossy(&run(&env, &[], &["encrypt", "--help"]).stdout).into_owned();
    assert!(
        help.contains("--kms <SERVICE>") && help.contains("--kms-endpoint <URL>"),
        "{help}"
    );
}

#[test]
fn kms_operations_run_against_an_endpoint() {
    let ep = endpoints::serve();
    let url = ep.url.clone().unwrap();
    let env = Env::new();
    let remote = ["--kms-endpoint", url.as_str(), "--kms-region", REGION];
    let args = |op: &[&'static str]| -> Vec<String> {
        remote
            .iter()
            .map(|s| s.to_string())
            .chain(op.iter().map(|s| s.to_string()))
            .collect()
    };
    let call = |a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        run(&env, &[], &a)
    };
    let out = ok(call(args(&[
        "-v",
        "kms",
        "create-key",
        "--description",
        "remote",
    ])));
    assert!(stderr(&out).contains(&url), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let arn = v["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
    assert!(!env.home().exists(), "no key store is made for a remote service");
    let mut describe = args(&["kms", "describe-key", "--key-id"]);
    describe.push(arn.clone());
    let out = ok(call(describe));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["KeyMetadata"]["Description"], "remote");
    assert!(v.get("KeyStore").is_none(), "{v}");
    let out = call(args(&["kms", "describe-key", "--key-id", "alias/nope"]));
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("envelope: NotFoundException: "),
        "{}",
        stderr(&out)
    );
    let out = ok(call(args(&["kms", "generate-random", "--number-of-bytes", "16"])));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Plaintext"));
}

#[test]
fn an_unreachable_endpoint_is_named_and_exits_4() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let env = Env::new();
    env.write("f.txt", b"x");
    let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    for args in [
        vec![
            "--kms-endpoint",
            url.as_str(),
            "encrypt",
            "-k",
            arn,
            "-i",
            "f.txt",
            "-o",
            "f.enc",
        ],
        vec![
            "--kms-endpoint",
            url.as_str(),
            "kms",
            "describe-key",
            "--key-id",
            arn,
        ],
    ] {
        let out = run(&env, &[], &args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&url) && err.contains("cannot reach"), "{err}");
        assert!(!env.path("f.enc").exists());
    }
}

/// A flipped bit in the key ARN of a message's aws-kms data key is
/// tampering (exit 1) through a remote service too, even where it leaves a
/// region no request can name (`us,east-1`): the message is at fault, not
/// the key service. (Against the embedded core, see `cli_untrusted`.)
#[test]
fn a_bit_flip_in_a_key_arn_exits_1_through_an_endpoint() {
    let ep = endpoints::serve();
    let url = ep.url.clone().unwrap();
    let key = ep
        .kms
        .create_key(&CreateKeyRequest::default())
        .unwrap()
        .key_metadata;
    let env = Env::new();
    env.write("p", b"remote payload");
    let remote = ["--kms-endpoint", url.as_str()];
    let mut args = remote.to_vec();
    args.extend(["encrypt", "-k", &key.arn, "-i", "p", "-o", "p.enc"]);
    ok(run(&env, &[], &args));
    let msg = env.read("p.enc");
    let at = msg
        .windows(key.arn.len())
        .position(|w| w == key.arn.as_bytes())
        .unwrap();
    let mut wrong = Vec::new();
    // Each byte of the partition, region and account, and the separators.
    for i in 4..(key.arn.find(":key/").unwrap() + 1) {
        for bit in [0x01u8, 0x20] {
            let mut bad = msg.clone();
            bad[at + i] ^= bit;
            env.write("bad.enc", &bad);
            for how in [&["-w", "discovery=true"][..], &["-k", &key.arn]] {
                let mut args = remote.to_vec();
                args.extend(["decrypt", "-i", "bad.enc", "-o", "out"]);
                args.extend(how);
                let out = run(&env, &[], &args);
                if out.status.code() != Some(1) {
                    wrong.push((i, bit, how[0], out.status.code(), stderr(&out)));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} flips did not exit 1: {wrong:#?}",
        wrong.len()
    );
}
