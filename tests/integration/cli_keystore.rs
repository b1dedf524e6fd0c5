//! The key store as the CLI meets it (issue 16): one identity per store,
//! fixed at creation; read-only operations never create a store; a
//! half-present store is refused; a store made by one end of a pipe serves
//! the other end.

use std::fs;
use std::process::Output;

use serde_json::Value;

use crate::support::cli::{assert_clean, Env};
use crate::support::scrub::{self, bin};

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
            let err = one_line(&out);
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

/// What must not create a store, run against a missing one.
fn read_only_runs() -> Vec<Vec<&'static str>> {
    vec![
        vec!["decrypt", "-i", "msg.enc", "-o", "out"],
        vec![
            "decrypt",
            "-k",
            "alias/envelope-default",
            "-i",
            "msg.enc",
            "-o",
            "out",
        ],
        vec![
            "encrypt",
            "-k",
            "alias/envelope-default",
            "-i",
            "plain",
            "-o",
            "out",
        ],
        vec!["kms", "list-keys"],
        vec!["kms", "list-aliases"],
        vec!["kms", "describe-key", "--key-id", "alias/envelope-default"],
        vec![
            "kms",
            "disable-key",
            "--key-id",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
        ],
        vec![
            "kms",
            "create-alias",
            "--alias-name",
            "alias/x",
            "--target-key-id",
            "1234abcd-12ab-34cd-56ef-1234567890ab",
        ],
    ]
}

#[test]
fn read_only_operations_never_create_a_store() {
    let env = Env::new();
    env.write("plain", b"some data");
    // A message of another store, so decrypt has a KMS-core key to look for.
    let other = env.path("other-store");
    let out = env
        .cmd()
        .env("ENVELOPE_HOME", &other)
        .args(["-q", "encrypt", "-i", "plain", "-o", "msg.enc"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let wrong = env.path("wrong/path");
    for args in read_only_runs() {
        let out = env.run(&args);
        // 4, the key-service code: the keys are unavailable, as for a key that is not found.
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out),
            format!(
                "envelope: no key store at {} (check --keystore / ENVELOPE_HOME)\n",
                env.home().display()
            ),
            "{args:?}"
        );
        assert!(!env.home().exists(), "{args:?} created {}", env.home().display());
        let with_option = [&["--keystore", wrong.to_str().unwrap()][..], &args].concat();
        let out = env.run(&with_option);
        assert_eq!(out.status.code(), Some(4), "{with_option:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(&format!("no key store at {}", wrong.display())));
        assert!(!wrong.exists() && !env.path("wrong").exists(), "{with_option:?}");
        assert!(!env.path("out").exists());
    }
    // An empty directory is no store either (and stays as it was).
    fs::create_dir(env.home()).unwrap();
    let out = env.run(&["kms", "list-keys"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert_eq!(fs::read_dir(env.home()).unwrap().count(), 0);
}

#[test]
fn a_half_present_store_is_refused_never_replaced() {
    let env = Env::new();
    env.write("plain", b"some data");
    env.ok(&["-q", "encrypt", "-i", "plain", "-o", "msg.enc"]);
    let db = env.home().join("kms.db");
    let key = env.home().join("root.key");
    let saved_key = fs::read(&key).unwrap();
    let creating = [
        &["encrypt", "-i", "plain", "-o", "again.enc"][..],
        &["kms", "create-key"][..],
    ];
    // root.key without kms.db.
    fs::rename(&db, env.path("kms.db.saved")).unwrap();
    for args in read_only_runs().iter().map(Vec::as_slice).chain(creating) {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        let err = one_line(&out);
        assert!(
            err.contains("kms.db") && err.contains("missing"),
            "{args:?}: {err}"
        );
        assert!(!db.exists(), "{args:?} re-created kms.db");
        assert_eq!(fs::read(&key).unwrap(), saved_key, "{args:?}");
    }
    // kms.db without root.key (and no passphrase).
    fs::rename(env.path("kms.db.saved"), &db).unwrap();
    fs::rename(&key, env.path("root.key.saved")).unwrap();
    for args in read_only_runs().iter().map(Vec::as_slice).chain(creating) {
        let out = env.run(args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        let err = one_line(&out);
        assert!(
            err.contains("root.key") && err.contains("missing"),
            "{args:?}: {err}"
        );
        assert!(!key.exists(), "{args:?} re-created root.key");
    }
    // Put back, the store works again.
    fs::rename(env.path("root.key.saved"), &key).unwrap();
    env.ok(&["decrypt", "-i", "msg.enc", "-o", "back"]);
    assert_eq!(env.read("back"), b"some data");
}

#[test]
fn the_creation_note_prints_even_with_quiet() {
    let env = Env::new();
    env.write("plain", b"x");
    let out = env.ok(&["-q", "encrypt", "-i", "plain", "-o", "x.enc"]);
    let err = stderr(&out);
    assert!(err.contains("created a new key store"), "{err}");
    assert!(err.contains(&env.home().display().to_string()), "{err}");
    assert!(err.contains("back up") && err.contains("root.key"), "{err}");
    // Once: the store exists now.
    let out = env.ok(&["-q", "encrypt", "-i", "plain", "-o", "y.enc"]);
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    let fresh = Env::new();
    let out = fresh.ok(&["-q", "kms", "create-key"]);
    assert!(
        stderr(&out).contains("created a new key store"),
        "{}",
        stderr(&out)
    );
}

/// `encrypt | decrypt` with a fresh ENVELOPE_HOME: decrypt starts first (the
/// encrypting side waits a moment), so it must not look for the store before
/// the message's header, which encrypt writes only once the store exists.
#[test]
fn a_pipe_from_encrypt_to_decrypt_with_a_fresh_store() {
    for (round, delay) in ["0", "0", "0.5"].iter().enumerate() {
        let env = Env::new();
        env.write("f", &crate::support::cli::bytes(300_000, round as u64));
        let script =
            format!(r#"(sleep {delay}; "$ENVELOPE" encrypt -i f -o -) | "$ENVELOPE" decrypt -i - -o g"#);
        let out = scrub::command("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(env.dir())
            .env("ENVELOPE", bin())
            .env("ENVELOPE_HOME", env.home())
            .output()
            .unwrap();
        assert_clean(&out.stderr);
        assert!(out.status.success(), "round {round}: {}", stderr(&out));
        assert_eq!(env.read("g"), env.read("f"), "round {round}");
        assert_eq!(
            stderr(&out).matches("created a new key store").count(),
            1,
            "{}",
            stderr(&out)
        );
    }
}
