//! The key store as the CLI meets it (issue 16): one identity per store,
//! fixed at creation.

use std::fs;
use std::process::Output;

use serde_json::Value;

use crate::support::cli::{assert_clean, Env};

/// Runs envelope in `env` with extra environment variables.
fn run_with(env: &Env, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = env.cmd();
    for (k, v) in vars {
        c.env(k, v);
    }
    let out = c.args(args).output().unwrap();
    assert_clean(&out.stderr);
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Stderr must be exactly one `envelope: ` line.
#[track_caller]
fn one_line(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("envelope: "), "{err}");
    err
}

const EU: [(&str, &str); 2] = [
    ("ENVELOPE_REGION", "eu-west-1"),
    ("ENVELOPE_ACCOUNT_ID", "444455556666"),
];

#[test]
fn the_identity_is_fixed_when_the_store_is_created() {
    let env = Env::new();
    env.write("hello.txt", b"hello\n");
    let made = run_with(&env, &EU, &["encrypt", "-i", "hello.txt", "-o", "hello.txt.enc"]);
    assert!(made.status.success(), "{}", stderr(&made));
    // Unset, or set to the same values: the store's identity is used.
    for vars in [&[][..], &EU[..], &EU[..1], &EU[1..]] {
        fs::remove_file(env.path("back")).ok();
        let out = run_with(&env, vars, &["decrypt", "-i", "hello.txt.enc", "-o", "back"]);
        assert!(out.status.success(), "{vars:?}: {}", stderr(&out));
        assert_eq!(env.read("back"), b"hello\n");
    }
    // A different value is refused, naming the variable and the store's values.
    for (var, value) in [
        ("ENVELOPE_REGION", "us-west-2"),
        ("ENVELOPE_ACCOUNT_ID", "111122223333"),
    ] {
        for args in [
            &["decrypt", "-i", "hello.txt.enc", "-o", "never"][..],
            &["kms", "list-keys"][..],
        ] {
            let out = run_with(&env, &[(var, value)], args);
            assert_eq!(out.status.code(), Some(2), "{var} {args:?}: {}", stderr(&out));
            let err = stderr(&out);
            assert_eq!(err.lines().count(), 1, "{err}");
            for want in [var, value, "eu-west-1", "444455556666"] {
                assert!(err.contains(want), "{want} missing: {err}");
            }
            assert!(!env.path("never").exists());
        }
    }
    // describe-key and -v name the store's region and account.
    let out = env.ok(&["kms", "describe-key", "--key-id", "alias/envelope-default"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["KeyMetadata"]["Arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:kms:eu-west-1:444455556666:key/"),
        "{v}"
    );
    assert_eq!(v["KeyStore"]["Region"], "eu-west-1", "{v}");
    assert_eq!(v["KeyStore"]["AccountId"], "444455556666", "{v}");
    let out = env.ok(&["-v", "decrypt", "-i", "hello.txt.enc", "-o", "-"]);
    let err = stderr(&out);
    assert!(
        err.contains("region eu-west-1") && err.contains("account 444455556666"),
        "{err}"
    );
    let out = env.ok(&["-v", "kms", "list-keys"]);
    let err = stderr(&out);
    assert!(
        err.contains("region eu-west-1") && err.contains("account 444455556666"),
        "{err}"
    );
}
