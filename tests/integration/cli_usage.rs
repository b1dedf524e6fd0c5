//! Usage errors as users meet them (issue 16): the exit code of the usage
//! class (2) for what the command line got wrong, refusals of option mixes
//! that would be silently ignored, and one `envelope: ` line per error.

use crate::support::cli::{aes_key, with, Env};

#[test]
fn encrypt_side_limits_and_reserved_keys_are_usage_errors() {
    let env = Env::new();
    env.write("p", b"p");
    let aes = aes_key(&env);
    let err = env.fails(
        &with(
            &["encrypt", "-i", "p", "-o", "x", "-c", "aws-crypto-public-key=x"],
            &aes,
        ),
        2,
    );
    assert!(err.contains("aws-crypto-"), "{err}");
    env.write("aes2.key", &crate::support::cli::bytes(32, 78));
    let two = with(
        &aes,
        &[
            "-w",
            "provider=raw-aes",
            "key=aes2.key",
            "namespace=tests",
            "name=aes-2",
        ],
    );
    let err = env.fails(
        &with(
            &["encrypt", "-i", "p", "-o", "x", "--max-encrypted-data-keys", "1"],
            &two,
        ),
        2,
    );
    assert!(err.contains("2") && err.contains("1"), "{err}");
    assert!(!env.path("x").exists());
    // A valid message over the reader's limit is refused as a usage error
    // too (issue 16's rule: exit 2, the flag named; issue 10 finding 5).
    env.ok(&with(&["encrypt", "-i", "p", "-o", "p.enc"], &two));
    let err = env.fails(
        &with(
            &[
                "decrypt",
                "-i",
                "p.enc",
                "-o",
                "y",
                "--max-encrypted-data-keys",
                "1",
            ],
            &aes,
        ),
        2,
    );
    assert!(err.contains("--max-encrypted-data-keys"), "{err}");
}

#[test]
fn discovery_filters_need_both_halves_and_do_not_mix_with_named_keys() {
    let env = Env::new();
    env.write("p", b"p");
    env.ok(&["-q", "encrypt", "-i", "p", "-o", "p.enc"]);
    fn decrypt<'a>(w: &[&'a str]) -> Vec<&'a str> {
        with(&["decrypt", "-i", "p.enc", "-o", "out"], w)
    }
    for (w, want) in [
        (
            &["-w", "discovery=true", "discovery-partition=aws"][..],
            "discovery-account",
        ),
        (
            &["-w", "discovery=true", "discovery-account=111122223333"][..],
            "discovery-partition",
        ),
        (
            &[
                "-w",
                "key=alias/envelope-default",
                "discovery-account=111122223333",
            ][..],
            "discovery=true",
        ),
        (
            &["-w", "discovery=true", "-k", "alias/envelope-default"][..],
            "discovery=true",
        ),
        (
            &["-w", "discovery=true", "-w", "key=alias/envelope-default"][..],
            "discovery=true",
        ),
    ] {
        let err = env.fails(&decrypt(w), 2);
        assert_eq!(err.lines().count(), 1, "{w:?}: {err}");
        assert!(
            err.starts_with("envelope: ") && err.contains(want),
            "{w:?}: {err}"
        );
        assert!(!env.path("out").exists());
    }
    // Both halves: a filter that admits the store's account decrypts, another does not.
    let both = [
        "-w",
        "discovery=true",
        "discovery-partition=aws",
        "discovery-account=111122223333",
    ];
    env.ok(&decrypt(&both));
    std::fs::remove_file(env.path("out")).unwrap();
    let other = [
        "-w",
        "discovery=true",
        "discovery-partition=aws",
        "discovery-account=444455556666",
    ];
    env.fails(&decrypt(&other), 1);
}

/// Every error is one `envelope: ` line.
#[track_caller]
fn one_error_line(err: &str) {
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("envelope: "), "{err}");
}

#[test]
fn every_error_is_one_envelope_line() {
    let env = Env::new();
    env.write("p", b"p");
    // clap's blocks fold into one line that keeps the detail and the tip.
    let err = env.fails(&["kms", "list-aliases", "x"], 2);
    one_error_line(&err);
    assert!(err.contains("unexpected argument 'x' found"), "{err}");
    assert!(err.contains("envelope kms list-aliases --help"), "{err}");
    let err = env.fails(&["encrypt", "--forse"], 2);
    one_error_line(&err);
    assert!(err.contains("tip: a similar argument exists: '--force'"), "{err}");
    for args in [
        &["encrypt", "--threads", "0"][..],
        &["decrypt", "--no-such-flag"][..],
        &["frobnicate"][..],
        &["kms", "describe-key"][..],
    ] {
        one_error_line(&env.fails(args, 2));
    }
    // The kms operations too, with AWS's error name after the prefix.
    env.ok(&["-q", "kms", "create-key"]);
    let err = env.fails(&["kms", "describe-key", "--key-id", "alias/nope"], 4);
    one_error_line(&err);
    assert!(err.starts_with("envelope: NotFoundException: "), "{err}");
    let err = env.fails(
        &["kms", "encrypt", "--key-id", "alias/nope", "--plaintext", "!!"],
        2,
    );
    one_error_line(&err);
    assert!(err.starts_with("envelope: ValidationException: "), "{err}");
    // A -w option the group's key does not take is named as typed.
    let err = env.fails(
        &[
            "encrypt",
            "-i",
            "p",
            "-o",
            "x",
            "-w",
            "key=alias/envelope-default",
            "region=us-west-2",
        ],
        2,
    );
    one_error_line(&err);
    assert!(err.contains("-w region=: unknown option"), "{err}");
    assert!(!err.contains("provider="), "{err}");
    let err = env.fails(
        &with(
            &["encrypt", "-i", "p", "-o", "x"],
            &[&aes_key(&env)[..], &["colour=red"]].concat(),
        ),
        2,
    );
    assert!(
        err.contains("-w colour=: unknown option for provider=raw-aes"),
        "{err}"
    );
}

#[test]
fn context_errors_quote_keys_the_same_way() {
    let env = Env::new();
    env.write("p", b"p");
    env.ok(&[
        "-q", "encrypt", "-i", "p", "-o", "p.enc", "-c", "owner=me", "-c", "team=a",
    ]);
    for (args, key, code) in [
        (&["encrypt", "-i", "p", "-o", "x", "-c", "bare"][..], "bare", 2),
        (
            &["encrypt", "-i", "p", "-o", "x", "-c", "a=1", "-c", "a=2"][..],
            "a",
            2,
        ),
        (
            &["decrypt", "-i", "p.enc", "-o", "x", "-c", "owner=you"][..],
            "owner",
            1,
        ),
        (
            &["decrypt", "-i", "p.enc", "-o", "x", "-c", "absent"][..],
            "absent",
            1,
        ),
        (
            &["decrypt", "-i", "p.enc", "-o", "x", "-c", "stage=prod"][..],
            "stage",
            1,
        ),
    ] {
        let err = env.fails(args, code);
        one_error_line(&err);
        assert!(err.contains(&format!("key '{key}'")), "{args:?}: {err}");
    }
    let err = env.fails(
        &[
            "kms",
            "encrypt",
            "--key-id",
            "alias/envelope-default",
            "--plaintext",
            "eA==",
            "--encryption-context",
            "a=1",
            "--encryption-context",
            "a=2",
        ],
        2,
    );
    one_error_line(&err);
    assert!(err.contains("key 'a'"), "{err}");
}

/// Issue 16, item 15: help that answers the question where it is asked.
#[test]
fn help_lists_the_suites_and_every_kms_operation_its_exit_codes() {
    let env = Env::new();
    let help = String::from_utf8_lossy(&env.ok(&["encrypt", "--help"]).stdout).into_owned();
    let err = env.fails(&["encrypt", "--algorithm", "0x9999", "-o", "x.enc"], 2);
    for s in envelope::AlgorithmSuite::ALL {
        let id = format!("0x{:04X}", s.id);
        assert!(
            help.contains(&id) && help.contains(s.name),
            "encrypt --help lacks {id} {}",
            s.name
        );
        assert!(err.contains(&id), "the unknown-suite error lacks {id}: {err}");
    }
    for op in [
        "create-key",
        "describe-key",
        "disable-key",
        "list-aliases",
        "encrypt",
        "decrypt",
    ] {
        let out = env.ok(&["kms", op, "--help"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Exit codes:"),
            "kms {op} --help has no exit codes:\n{text}"
        );
    }
}

/// Issue 16, item 15: a suite the commitment policy refuses names the flags
/// that decide it, on encrypt and on decrypt.
#[test]
fn a_commitment_policy_refusal_names_the_flag() {
    let env = Env::new();
    env.write("p", b"policy");
    let key = aes_key(&env);
    let err = env.fails(
        &with(
            &["encrypt", "--algorithm", "0x0378", "-i", "p", "-o", "p.enc"],
            &key,
        ),
        2,
    );
    assert!(
        err.contains("--commitment-policy") && err.contains("--algorithm"),
        "{err}"
    );
    env.ok(&with(
        &[
            "encrypt",
            "--algorithm",
            "0x0378",
            "--commitment-policy",
            "forbid-encrypt-allow-decrypt",
            "-i",
            "p",
            "-o",
            "p.enc",
        ],
        &key,
    ));
    let err = env.fails(&with(&["decrypt", "-i", "p.enc", "-o", "q"], &key), 2);
    assert!(err.contains("--commitment-policy"), "{err}");
}

/// Issue 16, item 15: each `kms` operation's help says which key id forms it
/// takes, as AWS KMS does: management operations a key id or ARN only,
/// DescribeKey and GetPublicKey any form, aliases included.
#[test]
fn kms_help_says_which_operations_take_aliases() {
    let env = Env::new();
    let help = |op: &str| String::from_utf8_lossy(&env.ok(&["kms", op, "--help"]).stdout).into_owned();
    for op in [
        "disable-key",
        "enable-key",
        "cancel-key-deletion",
        "disable-key-rotation",
        "get-key-rotation-status",
        "rotate-key-on-demand",
    ] {
        let h = help(op);
        assert!(h.contains("aliases are not accepted"), "kms {op} --help:\n{h}");
    }
    for op in ["describe-key", "get-public-key"] {
        let h = help(op);
        assert!(
            h.contains("alias name or alias ARN") && !h.contains("not accepted"),
            "kms {op} --help:\n{h}"
        );
    }
}

/// Issue 16, item 15: the global options stand apart from a subcommand's own,
/// and `-w`'s help is a list of key kinds, each with an example.
#[test]
fn help_sets_global_options_apart_and_lists_wrapping_key_kinds() {
    let env = Env::new();
    for cmd in [&["encrypt"][..], &["decrypt"], &["kms", "describe-key"]] {
        let help = String::from_utf8_lossy(&env.ok(&with(cmd, &["--help"])).stdout).into_owned();
        let (own, global) = help
            .split_once("\nGlobal options:\n")
            .unwrap_or_else(|| panic!("{cmd:?} --help has no global options heading:\n{help}"));
        // The lines that introduce an option, not the prose that mentions one.
        let flags = |text: &str| -> Vec<String> {
            text.lines()
                .map(str::trim_start)
                .filter(|l| l.starts_with('-'))
                .map(|l| l.split(['<', '.']).next().unwrap())
                .map(|l| l.split("  ").next().unwrap().trim().to_owned())
                .collect()
        };
        let (own, global) = (flags(own), flags(global));
        for flag in [
            "--keystore",
            "-q, --quiet",
            "-v, --verbose",
            "--kms-endpoint",
            "--kms-region",
        ] {
            assert!(
                global.iter().any(|f| f == flag),
                "{cmd:?}: {flag} is not under Global options: {global:?}"
            );
            assert!(
                !own.iter().any(|f| f == flag),
                "{cmd:?}: {flag} is among the subcommand's own options"
            );
        }
    }
    let help = String::from_utf8_lossy(&env.ok(&["encrypt", "--help"]).stdout).into_owned();
    for example in [
        "-w key=alias/backups",
        "-w discovery=true discovery-partition=aws discovery-account=",
        "-w provider=raw-aes key=",
        "-w provider=raw-rsa key=",
        "-w provider=raw-ecdh scheme=static ",
        "-w provider=raw-ecdh scheme=ephemeral ",
        "-w provider=raw-ecdh scheme=discovery ",
    ] {
        let line = help.lines().find(|l| l.trim_start().starts_with(example));
        assert!(
            line.is_some(),
            "no example line starting {example:?} in encrypt --help"
        );
    }
    // Each line of the -w list is short enough to read (the old text was one 600-character paragraph).
    let list = &help[help.find("-w, --wrapping-keys").unwrap()..help.find("-k, --key-id").unwrap()];
    let longest = list.lines().skip(2).map(str::len).max().unwrap();
    assert!(longest < 140, "a -w help line of {longest} characters");
}
