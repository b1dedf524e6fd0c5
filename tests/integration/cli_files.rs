//! `envelope encrypt`/`decrypt` on files and directories: the first-run
//! default key, several inputs, recursive trees, suffixes, overwrite rules,
//! atomic outputs on failure, encryption-context checks, --decrypt-unsigned,
//! --buffer, -v/-q, and every exit code.

use std::fs;

use crate::support::cli::{aes_key, assert_clean, bytes, tree, with, Env};

#[test]
fn first_run_creates_the_default_key_in_an_empty_home() {
    let env = Env::new();
    assert!(!env.home().exists());
    env.write("notes.txt", b"first run\n");
    let out = env.ok(&["encrypt", "-i", "notes.txt", "-o", "notes.txt.encrypted"]);
    let err = String::from_utf8_lossy(&out.stderr);
    let home = env.home().display().to_string();
    assert!(
        err.contains(&format!("created a new key store in {home}")),
        "{err}"
    );
    assert!(
        err.contains("created the default key alias/envelope-default"),
        "{err}"
    );
    assert!(env.home().join("root.key").is_file());

    let out = env.ok(&["decrypt", "-i", "notes.txt.encrypted", "-o", "notes.txt.out"]);
    assert_eq!(env.read("notes.txt.out"), b"first run\n");
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));

    // The key is created once: a second encrypt says nothing and uses it again.
    let out = env.ok(&["encrypt", "-i", "notes.txt", "-o", "again.encrypted"]);
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let aliases = env.ok(&["kms", "list-aliases"]);
    let v: serde_json::Value = serde_json::from_slice(&aliases.stdout).unwrap();
    let names: Vec<&str> = v["Aliases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["AliasName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alias/envelope-default"]);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&env.home()), 0o700);
        assert_eq!(mode(&env.home().join("root.key")), 0o600);
        assert_eq!(mode(&env.path("notes.txt.out")), 0o600);
    }
}

#[test]
fn quiet_first_run_prints_only_the_creation_note() {
    let env = Env::new();
    env.write("a", b"a");
    // Nothing but the note that a key store was made (a secret to back up).
    let out = env.ok(&["-q", "encrypt", "-i", "a", "-o", "a.enc"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("envelope: created a new key store in "), "{err}");
    let out = env.ok(&["decrypt", "-q", "-i", "a.enc", "-o", "a.out"]);
    assert!(out.stderr.is_empty());
    assert_eq!(env.read("a.out"), b"a");
}

#[test]
fn several_inputs_go_into_a_directory_with_suffixes() {
    let env = Env::new();
    env.write("a.txt", b"alpha");
    env.write("b.txt", b"beta");
    env.write("sub/c.txt", b"gamma");
    // -i takes several paths (as a shell glob gives them) and repeats.
    env.ok(&[
        "-q",
        "encrypt",
        "-i",
        "a.txt",
        "b.txt",
        "-i",
        "sub/c.txt",
        "-o",
        "enc",
    ]);
    for n in ["a.txt", "b.txt", "c.txt"] {
        assert!(env.path(&format!("enc/{n}.encrypted")).is_file(), "{n}");
    }
    // On decrypt the suffix comes off again.
    env.ok(&[
        "decrypt",
        "-i",
        "enc/a.txt.encrypted",
        "enc/b.txt.encrypted",
        "enc/c.txt.encrypted",
        "-o",
        "dec/",
    ]);
    assert_eq!(env.read("dec/a.txt"), b"alpha");
    assert_eq!(env.read("dec/b.txt"), b"beta");
    assert_eq!(env.read("dec/c.txt"), b"gamma");

    // A custom suffix, and a name without it on decrypt.
    env.ok(&["encrypt", "-i", "a.txt", "-o", "enc2/", "--suffix", ".env"]);
    assert!(env.path("enc2/a.txt.env").is_file());
    env.ok(&[
        "decrypt",
        "-i",
        "enc2/a.txt.env",
        "-o",
        "dec2/",
        "--suffix",
        ".env",
    ]);
    assert_eq!(env.read("dec2/a.txt"), b"alpha");
    env.ok(&["decrypt", "-i", "enc2/a.txt.env", "-o", "dec3/"]);
    assert_eq!(env.read("dec3/a.txt.env.decrypted"), b"alpha");

    // A bare --suffix keeps names unchanged.
    env.ok(&["encrypt", "-i", "a.txt", "b.txt", "-o", "same", "--suffix"]);
    assert!(env.path("same/a.txt").is_file() && env.path("same/b.txt").is_file());
    env.ok(&["decrypt", "-i", "same/a.txt", "-o", "plain/", "--suffix"]);
    assert_eq!(env.read("plain/a.txt"), b"alpha");

    // A single file into an existing directory.
    fs::create_dir(env.path("existing")).unwrap();
    env.ok(&["encrypt", "-i", "b.txt", "-o", "existing"]);
    assert!(env.path("existing/b.txt.encrypted").is_file());
}

#[test]
fn nested_directories_are_mirrored() {
    let env = Env::new();
    env.write("tree/top.bin", &bytes(200_000, 1));
    env.write("tree/a/one.txt", b"one");
    env.write("tree/a/b/c/deep.txt", b"deep");
    env.write("tree/.hidden", b"hidden");
    env.write("tree/a/empty-file", b"");
    fs::create_dir_all(env.path("tree/empty/dir")).unwrap();
    let key = aes_key(&env);

    // Without -r a directory is a usage error, and nothing is written.
    let before = env.snapshot();
    let err = env.fails(&with(&["encrypt", "-i", "tree", "-o", "enc"], &key), 2);
    assert!(err.contains("tree is a directory: use -r"), "{err}");
    assert_eq!(env.snapshot(), before);

    env.ok(&with(
        &[
            "encrypt",
            "-r",
            "-i",
            "tree",
            "-o",
            "enc",
            "--frame-length",
            "4096",
        ],
        &key,
    ));
    assert!(env.path("enc/a/b/c/deep.txt.encrypted").is_file());
    assert!(env.path("enc/empty/dir").is_dir());
    env.ok(&with(&["decrypt", "-R", "-i", "enc", "-o", "dec"], &key));
    assert_eq!(tree(&env.path("tree")), tree(&env.path("dec")));

    // Two trees and a file into one directory.
    env.write("other/x.txt", b"x");
    env.write("loose.txt", b"loose");
    env.ok(&with(
        &[
            "encrypt",
            "--recursive",
            "-i",
            "tree",
            "other",
            "loose.txt",
            "-o",
            "all",
        ],
        &key,
    ));
    // Several inputs: each directory under its own name, files at the top.
    assert!(env.path("all/other/x.txt.encrypted").is_file());
    assert!(env.path("all/loose.txt.encrypted").is_file());
    assert!(env.path("all/tree/a/one.txt.encrypted").is_file());
}

#[cfg(unix)]
#[test]
fn directory_walk_follows_file_links_and_skips_the_rest() {
    let env = Env::new();
    env.write("tree/real.txt", b"real");
    env.write("outside/target.txt", b"target");
    std::os::unix::fs::symlink("../outside/target.txt", env.path("tree/link.txt")).unwrap();
    std::os::unix::fs::symlink("../outside", env.path("tree/dirlink")).unwrap();
    std::os::unix::fs::symlink("nowhere", env.path("tree/broken")).unwrap();
    let key = aes_key(&env);
    let out = env.ok(&with(&["encrypt", "-r", "-i", "tree", "-o", "enc"], &key));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("skipping tree/dirlink: a link to a directory"),
        "{err}"
    );
    assert!(err.contains("skipping tree/broken: a broken link"), "{err}");
    env.ok(&with(&["decrypt", "-r", "-i", "enc", "-o", "dec"], &key));
    assert_eq!(env.read("dec/link.txt"), b"target");
    assert_eq!(env.read("dec/real.txt"), b"real");
    assert!(!env.path("dec/dirlink").exists());
}

#[test]
fn usage_errors_exit_2_and_write_nothing() {
    let env = Env::new();
    env.write("a", b"a");
    env.write("b", b"b");
    env.write("dir/c", b"c");
    let key = aes_key(&env);
    let before = env.snapshot();
    let cases: &[(&[&str], &str)] = &[
        (
            &["encrypt", "-i", "a", "-o", "a"],
            "the input and the output are the same file",
        ),
        (
            &["encrypt", "-i", "a", "-o", "./a", "-f"],
            "the input and the output are the same file",
        ),
        (&["encrypt", "-i", "a", "b"], "need an output directory"),
        (
            &["encrypt", "-i", "a", "-i", "b", "-o", "-"],
            "need an output directory",
        ),
        (&["encrypt", "-r", "-i", "dir"], "need an output directory"),
        (&["encrypt", "-i", "a", "b", "-o", "b"], "is not a directory"),
        (&["encrypt", "-o", "outdir/"], "stdin has no file name"),
        (
            &["encrypt", "-i", "-", "a", "-o", "x"],
            "stdin cannot be combined",
        ),
        (
            &["encrypt", "-r", "-i", "dir", "-o", "dir/enc"],
            "is inside the input directory",
        ),
        (
            &["encrypt", "-r", "-i", ".", "-o", "out"],
            "is inside the input directory",
        ),
        (
            &["encrypt", "-i", "a", "dir/../a", "-o", "o"],
            "would both be written to",
        ),
        (
            &["encrypt", "-i", "a", "-o", "b"],
            "b already exists: use --force",
        ),
        (
            &["encrypt", "-i", "a", "-o", "x", "-c", "k"],
            "encrypt needs key=value pairs",
        ),
        (
            &["encrypt", "-i", "a", "-o", "x", "-c", "k=1", "-c", "k=2"],
            "given twice",
        ),
        (
            &["encrypt", "-i", "a", "-o", "x", "--algorithm", "0x9999"],
            "unknown algorithm suite",
        ),
        (
            &["encrypt", "-i", "a", "-o", "x", "--frame-length", "0"],
            "frame-length",
        ),
        (
            &["encrypt", "-i", "a", "-o", "x", "-w", "provider=nope"],
            "unknown provider",
        ),
        (
            &["encrypt", "-i", "a", "-o", "x", "-w", "discovery=true"],
            "only decrypts",
        ),
        (
            &["encrypt", "-i", "a", "-o", "x", "--metadata-output", "a"],
            "also an input or an output",
        ),
        (
            &["decrypt", "-i", "a", "--metadata-output", "-"],
            "stdout already carries the data",
        ),
        (
            &["-q", "-v", "encrypt", "-i", "a", "-o", "x"],
            "cannot be used with",
        ),
        (&["encrypt", "--no-such-option"], "unexpected argument"),
        (&["frobnicate"], "unrecognized subcommand"),
        (
            &["encrypt", "-i", "a", "-o", "x", "--commitment-policy", "lax"],
            "invalid value",
        ),
    ];
    for (args, msg) in cases {
        let args = with(args, &key);
        let err = env.fails(&args, 2);
        assert!(err.contains(msg), "{args:?}: expected {msg:?} in {err}");
        assert_eq!(env.snapshot(), before, "{args:?} wrote something");
    }
    // A directory of the same name as the output file is refused even with --force.
    env.write("a.encrypted/inside", b"x");
    let err = env.fails(&with(&["encrypt", "-i", "a", "b", "-o", ".", "-f"], &key), 2);
    assert!(err.contains("a.encrypted is a directory"), "{err}");
    assert!(!env.path("b.encrypted").exists());
    assert!(!env.home().exists(), "usage errors must not create a key store");
}

#[test]
fn overwrite_needs_force() {
    let env = Env::new();
    env.write("plain", b"new contents");
    env.write("out.enc", b"precious");
    let err = env.fails(&["encrypt", "-i", "plain", "-o", "out.enc"], 2);
    assert!(
        err.contains("out.enc already exists: use --force to overwrite it"),
        "{err}"
    );
    assert_eq!(env.read("out.enc"), b"precious");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(env.path("out.enc"), fs::Permissions::from_mode(0o640)).unwrap();
    }
    env.ok(&["encrypt", "-i", "plain", "-o", "out.enc", "--force"]);
    env.ok(&["decrypt", "-i", "out.enc", "-o", "plain.out"]);
    assert_eq!(env.read("plain.out"), b"new contents");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(env.path("out.enc")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "--force keeps the replaced file's permissions");
    }
    // Into a directory, per file; -f overwrites them all.
    env.ok(&["encrypt", "-i", "plain", "-o", "d/"]);
    env.fails(&["encrypt", "-i", "plain", "-o", "d/"], 2);
    env.ok(&["encrypt", "-i", "plain", "-o", "d/", "-f"]);
}

/// A message whose byte at `at` is flipped, and one cut short.
fn damaged(env: &Env, msg: &str) -> (String, String) {
    let mut m = env.read(msg);
    let at = m.len() / 2;
    m[at] ^= 0x01;
    env.write("tampered.enc", &m);
    let m = env.read(msg);
    env.write("truncated.enc", &m[..m.len() - 30]);
    ("tampered.enc".into(), "truncated.enc".into())
}

#[test]
fn damaged_messages_leave_no_output_and_existing_files_untouched() {
    let env = Env::new();
    let plain = bytes(300_000, 2);
    env.write("p", &plain);
    env.ok(&[
        "-q",
        "encrypt",
        "-i",
        "p",
        "-o",
        "p.enc",
        "--frame-length",
        "4096",
    ]);
    let (tampered, truncated) = damaged(&env, "p.enc");
    env.write("existing", b"keep me");
    for bad in [&tampered, &truncated] {
        let before = env.snapshot();
        let err = env.fails(&["decrypt", "-i", bad, "-o", "fresh"], 1);
        assert!(err.contains(&format!("decrypt {bad}:")), "{err}");
        let err = env.fails(&["decrypt", "-i", bad, "-o", "existing", "--force"], 1);
        assert!(err.contains(bad.as_str()), "{err}");
        let err = env.fails(&["decrypt", "-i", bad, "-o", "newdir/"], 1);
        assert!(err.contains(bad.as_str()), "{err}");
        // --buffer to stdout releases nothing at all.
        let out = env.run(&["decrypt", "-i", bad, "--buffer"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        // Streamed to stdout, only authenticated frames (a prefix) come out.
        let out = env.run(&["decrypt", "-i", bad]);
        assert_eq!(out.status.code(), Some(1));
        assert!(plain.starts_with(&out.stdout));
        assert!(out.stdout.len() < plain.len());
        // No partial file, no temporary file, no directory made for the output.
        assert_eq!(env.snapshot(), before, "{bad}");
    }
    assert_eq!(env.read("existing"), b"keep me");
    // Garbage and empty input.
    env.write("garbage", b"this is not a message");
    let err = env.fails(&["decrypt", "-i", "garbage", "-o", "g"], 1);
    assert!(err.contains("decrypt garbage: malformed header"), "{err}");
    env.write("empty", b"");
    env.fails(&["decrypt", "-i", "empty", "-o", "g"], 1);
    assert!(!env.path("g").exists());
    // Trailing bytes after the message.
    let mut m = env.read("p.enc");
    m.push(0);
    env.write("trailing.enc", &m);
    let err = env.fails(&["decrypt", "-i", "trailing.enc", "-o", "g"], 1);
    assert!(err.contains("trailing data"), "{err}");
    assert!(!env.path("g").exists());
}

#[test]
fn one_bad_file_among_several_fails_alone() {
    let env = Env::new();
    env.write("good1", b"one");
    env.write("good2", b"two");
    env.ok(&["-q", "encrypt", "-i", "good1", "good2", "-o", "enc"]);
    let (tampered, _) = damaged(&env, "enc/good1.encrypted");
    fs::rename(env.path(&tampered), env.path("enc/bad.encrypted")).unwrap();
    let err = env.fails(&["decrypt", "-i", "enc", "-r", "-o", "dec"], 1);
    assert!(err.contains("decrypt enc/bad.encrypted: "), "{err}");
    assert!(err.contains("1 of 3 files failed"), "{err}");
    assert_eq!(env.read("dec/good1"), b"one");
    assert_eq!(env.read("dec/good2"), b"two");
    assert!(!env.path("dec/bad").exists());
}

#[test]
fn encryption_context_must_match_on_decrypt() {
    let env = Env::new();
    env.write("p", b"context-bound");
    env.ok(&[
        "-q",
        "encrypt",
        "-i",
        "p",
        "-o",
        "p.enc",
        "-c",
        "purpose=backup",
        "-c",
        "team=ops",
    ]);
    env.ok(&["encrypt", "-i", "p", "-o", "d/", "-c", "purpose=backup"]);
    env.ok(&[
        "decrypt",
        "-i",
        "p.enc",
        "-o",
        "a",
        "-c",
        "purpose=backup",
        "-c",
        "team",
    ]);
    assert_eq!(env.read("a"), b"context-bound");
    env.ok(&[
        "decrypt", "-i", "p.enc", "-o", "b", "-c", "purpose", "-c", "team=ops",
    ]);
    env.write("existing", b"keep");
    let before = env.snapshot();
    for (c, msg) in [
        (&["-c", "purpose=restore"][..], "'purpose' does not match"),
        (&["-c", "owner"][..], "required key 'owner' is missing"),
        (
            &["-c", "purpose=backup", "-c", "owner"][..],
            "required key 'owner' is missing",
        ),
        (&["-c", "owner=me"][..], "decrypt p.enc: "),
    ] {
        let err = env.fails(&with(&["decrypt", "-i", "p.enc", "-o", "c"], c), 1);
        assert!(err.contains(msg), "{c:?}: {err}");
        let err = env.fails(&with(&["decrypt", "-i", "p.enc", "-o", "existing", "-f"], c), 1);
        assert!(err.contains(msg), "{c:?}: {err}");
        // To stdout: not one byte.
        let out = env.run(&with(&["decrypt", "-i", "p.enc"], c));
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty(), "{c:?}");
        // Into a directory: no file and no directory.
        env.fails(
            &with(&["decrypt", "-i", "p.enc", "d/p.encrypted", "-o", "outdir"], c),
            1,
        );
        env.fails(&with(&["decrypt", "-r", "-i", "d", "-o", "outdir2"], c), 1);
        assert_eq!(env.snapshot(), before, "{c:?}");
    }
}

#[test]
fn decrypt_unsigned_refuses_signed_messages_before_any_output() {
    let env = Env::new();
    let key = aes_key(&env);
    env.write("p", &bytes(100_000, 3));
    env.ok(&with(&["encrypt", "-i", "p", "-o", "signed.enc"], &key));
    env.ok(&with(
        &[
            "encrypt",
            "-i",
            "p",
            "-o",
            "unsigned.enc",
            "--algorithm",
            "0x0478",
        ],
        &key,
    ));
    env.write("existing", b"keep");
    let err = env.fails(
        &with(
            &["decrypt", "-i", "signed.enc", "-o", "out", "--decrypt-unsigned"],
            &key,
        ),
        2,
    );
    assert!(err.contains("decrypt signed.enc: message is signed"), "{err}");
    assert!(!env.path("out").exists());
    env.fails(
        &with(
            &[
                "decrypt",
                "-i",
                "signed.enc",
                "-o",
                "existing",
                "-f",
                "--decrypt-unsigned",
            ],
            &key,
        ),
        2,
    );
    assert_eq!(env.read("existing"), b"keep");
    let out = env.run(&with(
        &["decrypt", "-i", "signed.enc", "--decrypt-unsigned"],
        &key,
    ));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    env.ok(&with(
        &["decrypt", "-i", "unsigned.enc", "-o", "out", "--decrypt-unsigned"],
        &key,
    ));
    assert_eq!(env.read("out"), env.read("p"));
    let out = env.ok(&with(&["decrypt", "-i", "signed.enc", "--buffer"], &key));
    assert_eq!(out.stdout, env.read("p"));
}

#[test]
fn io_errors_exit_3_and_name_the_file() {
    let env = Env::new();
    let key = aes_key(&env);
    let err = env.fails(&with(&["encrypt", "-i", "missing.txt", "-o", "x"], &key), 3);
    assert!(err.contains("missing.txt: "), "{err}");
    env.fails(&with(&["decrypt", "-i", "missing.enc", "-o", "x"], &key), 3);
    env.fails(&["inspect", "missing.enc"], 3);
    env.write("p", b"p");
    // The output's parent is a file.
    let err = env.fails(&with(&["encrypt", "-i", "p", "-o", "p/x"], &key), 3);
    assert!(err.contains("p"), "{err}");
    // (A missing parent is created: see missing_parents_of_an_output_file_...)
    // A key file that is missing.
    let err = env.fails(
        &[
            "encrypt",
            "-i",
            "p",
            "-o",
            "x",
            "-w",
            "provider=raw-aes",
            "key=nokey",
            "namespace=n",
            "name=k",
        ],
        3,
    );
    assert!(err.contains("key file nokey"), "{err}");
    if std::path::Path::new("/dev/full").exists() {
        env.ok(&with(&["encrypt", "-i", "p", "-o", "p.enc"], &key));
        let err = env.fails(&with(&["decrypt", "-i", "p.enc", "-o", "/dev/full"], &key), 3);
        assert!(err.contains("/dev/full: "), "{err}");
    }
}

#[test]
fn key_service_errors_exit_4() {
    let env = Env::new();
    env.write("p", b"p");
    let err = env.fails(&["encrypt", "-i", "p", "-o", "x", "-k", "alias/missing"], 4);
    assert!(err.contains("no key store at"), "{err}");
    assert!(!env.path("x").exists());
    env.ok(&["-q", "encrypt", "-i", "p", "-o", "p.enc"]);
    let err = env.fails(&["encrypt", "-i", "p", "-o", "x", "-k", "alias/missing"], 4);
    assert!(err.contains("NotFoundException"), "{err}");
    assert!(!env.path("x").exists());
    let info = env.ok(&["kms", "describe-key", "--key-id", "alias/envelope-default"]);
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    let arn = v["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
    env.ok(&["kms", "disable-key", "--key-id", &arn]);
    let err = env.fails(&["decrypt", "-i", "p.enc", "-o", "out"], 4);
    assert!(err.contains("decrypt p.enc: DisabledException"), "{err}");
    assert!(!env.path("out").exists());
    env.fails(&["encrypt", "-i", "p", "-o", "x"], 4);
    env.ok(&["kms", "enable-key", "--key-id", &arn]);
    env.ok(&[
        "decrypt",
        "-i",
        "p.enc",
        "-o",
        "out",
        "-k",
        "alias/envelope-default",
    ]);
    assert_eq!(env.read("out"), b"p");
}

#[test]
fn wrong_keys_are_integrity_failures() {
    let env = Env::new();
    let key = aes_key(&env);
    env.write("p", b"p");
    env.ok(&["-q", "encrypt", "-i", "p", "-o", "default.enc"]);
    env.ok(&with(&["encrypt", "-i", "p", "-o", "p.enc"], &key));
    env.write("other.key", &bytes(32, 99));
    let other = [
        "-w",
        "provider=raw-aes",
        "key=other.key",
        "namespace=tests",
        "name=aes-1",
    ];
    env.fails(&with(&["decrypt", "-i", "p.enc", "-o", "out"], &other), 1);
    // No key named: discovery finds no KMS-core data key in a raw-AES message.
    env.fails(&["decrypt", "-i", "p.enc", "-o", "out"], 1);
    assert!(!env.path("out").exists());
    // A message for a KMS-core key opens with that key named in any form.
    env.ok(&[
        "-q",
        "kms",
        "create-alias",
        "--alias-name",
        "alias/x",
        "--target-key-id",
        &{
            let k = env.ok(&["kms", "create-key"]);
            let v: serde_json::Value = serde_json::from_slice(&k.stdout).unwrap();
            v["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned()
        },
    ]);
    env.ok(&["encrypt", "-i", "p", "-o", "k.enc", "-k", "alias/x"]);
    env.ok(&["decrypt", "-i", "k.enc", "-o", "k.out", "-k", "alias/x"]);
    env.ok(&["decrypt", "-i", "k.enc", "-o", "k.out2", "-w", "discovery=true"]);
    env.fails(
        &[
            "decrypt",
            "-i",
            "k.enc",
            "-o",
            "k.out3",
            "-k",
            "alias/envelope-default",
        ],
        1,
    );
}

#[test]
fn verbose_names_files_and_keys() {
    let env = Env::new();
    env.write("a", b"a");
    env.write("b", b"bb");
    env.ok(&["-q", "encrypt", "-i", "a", "-o", "warmup.enc"]);
    let out = env.ok(&["-v", "encrypt", "-i", "a", "b", "-o", "enc"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("encrypted a -> enc/a.encrypted (1 bytes in, "),
        "{err}"
    );
    assert!(
        err.contains("encrypted b -> enc/b.encrypted (2 bytes in, "),
        "{err}"
    );
    assert!(err.contains("data key wrapped by aws-kms arn:aws:kms:"), "{err}");
    assert!(!err.contains("message id"), "{err}");
    let out = env.ok(&["decrypt", "-vv", "-i", "enc/a.encrypted", "-o", "-"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("decrypted enc/a.encrypted -> stdout"), "{err}");
    assert!(err.contains("message id "), "{err}");
    assert_eq!(out.stdout, b"a");
}

#[test]
fn devices_and_links_as_outputs() {
    let env = Env::new();
    let key = aes_key(&env);
    env.write("p", b"p");
    env.ok(&with(&["encrypt", "-i", "p", "-o", "p.enc"], &key));
    #[cfg(unix)]
    {
        // A device is written, not replaced, and needs no --force.
        env.ok(&with(&["decrypt", "-i", "p.enc", "-o", "/dev/null"], &key));
        use std::os::unix::fs::FileTypeExt;
        assert!(fs::metadata("/dev/null").unwrap().file_type().is_char_device());
        // A link is followed: its target is replaced, the link stays.
        env.write("target", b"old");
        std::os::unix::fs::symlink("target", env.path("link")).unwrap();
        env.fails(&with(&["decrypt", "-i", "p.enc", "-o", "link"], &key), 2);
        env.ok(&with(&["decrypt", "-i", "p.enc", "-o", "link", "-f"], &key));
        assert!(fs::symlink_metadata(env.path("link"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(env.read("target"), b"p");
    }
}

#[test]
fn help_documents_exit_codes_and_options() {
    let env = Env::new();
    for args in [
        &["--help"][..],
        &["encrypt", "--help"],
        &["decrypt", "--help"],
        &["inspect", "--help"],
    ] {
        let out = env.ok(args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Exit codes:"), "{args:?}");
        for line in [
            "0  success",
            "1  integrity",
            "2  usage error",
            "3  I/O or system error",
            "4  key-service error",
        ] {
            assert!(text.contains(line), "{args:?} lacks {line:?}");
        }
    }
    let out = env.ok(&["encrypt", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "--input",
        "--output",
        "--recursive",
        "--suffix",
        "--metadata-output",
        "--force",
        "--wrapping-keys",
        "--key-id",
        "--encryption-context",
        "--quiet",
        "--verbose",
    ] {
        assert!(text.contains(opt), "encrypt --help lacks {opt}");
    }
}

#[test]
fn rsa_keys_multi_keyrings_and_edk_limits() {
    let env = Env::new();
    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/keys");
    for f in ["rsa-2048-public.pem", "rsa-2048-private.pem"] {
        fs::copy(keys.join(f), env.path(f)).unwrap();
    }
    let rsa = |pem: &'static str| -> Vec<&'static str> {
        vec![
            "-w",
            "provider=raw-rsa",
            pem,
            "namespace=rsa-ns",
            "name=rsa-1",
            "padding=oaep-sha256",
        ]
    };
    let aes = aes_key(&env);
    env.write("p", &bytes(5000, 4));
    env.ok(&with(
        &["encrypt", "-i", "p", "-o", "rsa.enc"],
        &rsa("key=rsa-2048-public.pem"),
    ));
    env.ok(&with(
        &["decrypt", "-i", "rsa.enc", "-o", "rsa.out"],
        &rsa("key=rsa-2048-private.pem"),
    ));
    assert_eq!(env.read("rsa.out"), env.read("p"));
    // The public key cannot decrypt.
    env.fails(
        &with(
            &["decrypt", "-i", "rsa.enc", "-o", "x"],
            &rsa("key=rsa-2048-public.pem"),
        ),
        2,
    );
    assert!(!env.path("x").exists());

    // Three keys: a KMS-core key, AES and RSA. Each opens the message alone.
    let mut three = vec![
        "encrypt",
        "-i",
        "p",
        "-o",
        "multi.enc",
        "-k",
        "alias/envelope-default",
    ];
    three.extend(&aes);
    three.extend(rsa("key=rsa-2048-public.pem"));
    env.ok(&["-q", "encrypt", "-i", "p", "-o", "warmup.enc"]);
    env.ok(&three);
    let v: serde_json::Value =
        serde_json::from_slice(&env.ok(&["inspect", "--json", "multi.enc"]).stdout).unwrap();
    let ids: Vec<&str> = v["encrypted_data_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["provider_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["tests", "rsa-ns", "aws-kms"]);
    for (i, key) in [
        aes.clone(),
        rsa("key=rsa-2048-private.pem"),
        vec!["-k", "alias/envelope-default"],
    ]
    .iter()
    .enumerate()
    {
        let out = format!("multi.{i}");
        env.ok(&with(&["decrypt", "-i", "multi.enc", "-o", &out], key));
        assert_eq!(env.read(&out), env.read("p"));
    }
    // --max-encrypted-data-keys: three are too many to read, or to write (a
    // limit a valid message exceeds: exit 2, the flag named).
    let err = env.fails(
        &with(
            &[
                "decrypt",
                "-i",
                "multi.enc",
                "-o",
                "y",
                "--max-encrypted-data-keys",
                "2",
            ],
            &aes,
        ),
        2,
    );
    assert!(
        err.contains("too many encrypted data keys") && err.contains("--max-encrypted-data-keys"),
        "{err}"
    );
    env.ok(&with(
        &[
            "decrypt",
            "-i",
            "multi.enc",
            "-o",
            "y",
            "--max-encrypted-data-keys",
            "3",
        ],
        &aes,
    ));
    let mut too_many = three.clone();
    too_many[4] = "z.enc";
    too_many.extend(["--max-encrypted-data-keys", "2"]);
    // Writing more keys than one's own maximum is a usage error.
    env.fails(&too_many, 2);
    assert!(!env.path("z.enc").exists());
}

#[test]
fn keystore_option_and_passphrase_stores() {
    let env = Env::new();
    env.write("p", b"p");
    // --keystore wins over ENVELOPE_HOME.
    env.ok(&[
        "-q",
        "--keystore",
        "elsewhere",
        "encrypt",
        "-i",
        "p",
        "-o",
        "p.enc",
    ]);
    assert!(env.path("elsewhere/root.key").is_file());
    assert!(!env.home().exists());
    // There is no default store: decrypt says so (and does not make one).
    let err = env.fails(&["decrypt", "-i", "p.enc", "-o", "out"], 4);
    assert!(err.contains("no key store at"), "{err}");
    assert!(!env.home().exists());
    // The key the message names is not in the default store: as with any
    // other wrong key (and as when a bit flip in the key ARN names an unknown
    // key), the message does not open here: exit 1.
    env.ok(&["-q", "kms", "create-key"]);
    let err = env.fails(&["decrypt", "-i", "p.enc", "-o", "out"], 1);
    assert!(
        err.contains("decrypt p.enc: no data key could be decrypted"),
        "{err}"
    );
    assert!(err.contains("NotFoundException"), "{err}");
    env.ok(&["decrypt", "--keystore", "elsewhere", "-i", "p.enc", "-o", "out"]);
    assert_eq!(env.read("out"), b"p");

    // A passphrase store: no root.key, and the passphrase is needed every time.
    let store = env.path("pass-store");
    let with_pass = |pass: &str, args: &[&str]| {
        let out = env
            .cmd()
            .env("ENVELOPE_HOME", &store)
            .env("ENVELOPE_PASSPHRASE", pass)
            .args(args)
            .output()
            .unwrap();
        assert_clean(&out.stderr);
        out
    };
    let out = with_pass("correct horse", &["-q", "encrypt", "-i", "p", "-o", "pp.enc"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(store.join("kms.db").is_file());
    assert!(!store.join("root.key").exists());
    let out = with_pass("wrong", &["decrypt", "-i", "pp.enc", "-o", "pp.out"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AccessDeniedException"));
    assert!(!env.path("pp.out").exists());
    let out = with_pass("correct horse", &["decrypt", "-i", "pp.enc", "-o", "pp.out"]);
    assert!(out.status.success());
    assert_eq!(env.read("pp.out"), b"p");
}

/// Issue 9 / issue 10 item 8: a bit flip in the key ARN of an `aws-kms`
/// encrypted data key is tampering, exit 1, whether the KMS keyring stands
/// alone (discovery or strict) or inside a multi-keyring. Before, a flip that
/// broke the ARN's syntax exited 2 and one that named an unknown key exited 4,
/// but only through a bare keyring.
#[test]
fn a_bit_flip_in_an_aws_kms_key_arn_exits_1_however_keyrings_are_nested() {
    let env = Env::new();
    env.write("p", b"kms-wrapped secret");
    env.ok(&["-q", "encrypt", "-i", "p", "-o", "p.enc"]);
    let message = env.read("p.enc");
    let at = message
        .windows(12)
        .position(|w| w == b"arn:aws:kms:")
        .expect("the EDK's provider info holds the key ARN");
    // The provider info's u16 length prefix sits right before the ARN.
    let len = u16::from_be_bytes([message[at - 2], message[at - 1]]) as usize;
    let arn = String::from_utf8(message[at..at + len].to_vec()).unwrap();
    assert!(arn.contains(":key/"), "{arn}");
    let aes = aes_key(&env);
    let key_word = format!("key={arn}");
    let decrypts: [Vec<&str>; 4] = [
        // No key given: a bare discovery keyring.
        vec!["decrypt", "-i", "t.enc", "-o", "out"],
        // A bare strict keyring naming the real key.
        vec!["decrypt", "-i", "t.enc", "-o", "out", "-k", &arn],
        // Multi-keyrings: the KMS keyring beside a raw AES key that cannot open it.
        with(&["decrypt", "-i", "t.enc", "-o", "out", "-w", &key_word], &aes),
        with(
            &["decrypt", "-i", "t.enc", "-o", "out", "-w", "discovery=true"],
            &aes,
        ),
    ];
    // The untouched message opens every way that includes the KMS key.
    for args in &decrypts {
        env.write("t.enc", &message);
        env.ok(args);
        fs::remove_file(env.path("out")).unwrap();
    }
    // The low bit of every character of the ARN (its syntax, partition,
    // service, region, account, resource type and key id), and one flip that
    // leaves UTF-8.
    let flips = (0..arn.len()).map(|i| (i, 0x01)).chain([(arn.len() - 5, 0x80)]);
    for (i, bit) in flips {
        let mut t = message.clone();
        t[at + i] ^= bit;
        env.write("t.enc", &t);
        for args in &decrypts {
            let err = env.fails(args, 1);
            assert!(!env.path("out").exists(), "{args:?}: wrote output");
            assert!(
                err.contains("encrypted data key") || err.contains("no data key could be decrypted"),
                "flip {i}/{bit:#x} {args:?}: {err}"
            );
        }
    }
}

#[test]
fn missing_parents_of_an_output_file_are_created_and_removed_on_failure() {
    let env = Env::new();
    let key = aes_key(&env);
    env.write("a", b"parents");
    env.ok(&with(&["encrypt", "-i", "a", "-o", "nodir/sub/a.enc"], &key));
    env.ok(&with(&["decrypt", "-i", "nodir/sub/a.enc", "-o", "back/a"], &key));
    assert_eq!(env.read("back/a"), b"parents");

    // A failed run leaves neither the file nor the directories made for it.
    let mut bad = env.read("nodir/sub/a.enc");
    let last = bad.len() - 1;
    bad[last] ^= 1;
    env.write("bad.enc", &bad);
    let before = env.snapshot();
    let err = env.fails(&with(&["decrypt", "-i", "bad.enc", "-o", "new1/new2/a"], &key), 1);
    assert!(!err.contains(".envelope-"), "{err}");
    assert_eq!(env.snapshot(), before);
}

#[cfg(unix)]
#[test]
fn output_errors_name_the_output_never_a_temporary_file() {
    let env = Env::new();
    let key = aes_key(&env);
    env.write("a", b"x");

    // A link to nothing: said plainly, and nothing is written.
    std::os::unix::fs::symlink("missing-target", env.path("link.enc")).unwrap();
    let before = env.snapshot();
    let err = env.fails(&with(&["encrypt", "-i", "a", "-o", "link.enc"], &key), 2);
    assert!(
        err.contains("link.enc is a symbolic link to a missing file missing-target"),
        "{err}"
    );
    assert_eq!(env.snapshot(), before);

    // A parent that is a file: the error names the output's directory.
    env.write("plain", b"not a directory");
    let err = env.fails(&with(&["encrypt", "-i", "a", "-o", "plain/a.enc"], &key), 3);
    assert!(err.contains("plain"), "{err}");
    assert!(!err.contains(".envelope-") && !err.contains(".tmp"), "{err}");
}

#[test]
fn several_input_directories_are_mirrored_under_their_names() {
    let env = Env::new();
    let key = aes_key(&env);
    env.write("d1/same.txt", b"one");
    env.write("d1/sub/deeper/f", b"deep");
    env.write("d2/same.txt", b"two");
    env.write("top.txt", b"top");
    env.ok(&with(
        &["encrypt", "-r", "-i", "d1", "d2", "top.txt", "-o", "out"],
        &key,
    ));
    for f in ["d1/same.txt", "d1/sub/deeper/f", "d2/same.txt", "top.txt"] {
        assert!(env.path(&format!("out/{f}.encrypted")).is_file(), "{f}");
    }
    env.ok(&with(
        &["decrypt", "-r", "-i", "out/d1", "out/d2", "-o", "back"],
        &key,
    ));
    assert_eq!(env.read("back/d1/same.txt"), b"one");
    assert_eq!(env.read("back/d2/same.txt"), b"two");
    assert_eq!(env.read("back/d1/sub/deeper/f"), b"deep");

    // One directory: the output directory holds its contents, as before.
    env.ok(&with(&["encrypt", "-r", "-i", "d1", "-o", "single"], &key));
    assert!(env.path("single/same.txt.encrypted").is_file());
    assert!(!env.path("single/d1").exists());
}

#[test]
fn overlapping_input_directories_are_refused_before_anything_is_written() {
    let env = Env::new();
    let key = aes_key(&env);
    env.write("d/sub/deeper/f", b"f");
    env.write("d/sub/g", b"g");
    env.write("p/x/a", b"a");
    env.write("q/x/b", b"b");
    let before = env.snapshot();
    for inputs in [
        &["d/sub", "d/sub/deeper"][..],
        &["d/sub/deeper", "d"],
        &["d", "d"],
        &["d", "./d/"],
        &["d", "d/sub/g"],
    ] {
        let args = with(&with(&["encrypt", "-r", "-i"], inputs), &["-o", "out"]);
        let err = env.fails(&with(&args, &key), 2);
        assert!(
            err.contains("overlap") || err.contains("twice"),
            "{inputs:?}: {err}"
        );
        assert!(!err.contains("--suffix"), "{err}");
        assert_eq!(env.snapshot(), before, "{inputs:?}");
    }
    // Two directories of one name would be mirrored into one.
    let err = env.fails(
        &with(&["encrypt", "-r", "-i", "p/x", "q/x", "-o", "out"], &key),
        2,
    );
    assert!(err.contains("out/x") || err.contains("out\\x"), "{err}");
    assert_eq!(env.snapshot(), before);
}
