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
    // The limits that are the message's fault stay integrity failures.
    env.ok(&with(&["encrypt", "-i", "p", "-o", "p.enc"], &two));
    env.fails(
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
        1,
    );
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
