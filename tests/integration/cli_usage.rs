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
