//! The README's quick start, run exactly as written.
//!
//! The commands are taken from the first `sh` block under "## Quick start" and
//! run by `sh` in a temporary copy of the README with an empty key store. The
//! one substitution is `cargo`: a stand-in on PATH accepts only
//! `cargo run --release -- ARGS` and runs the envelope binary this test suite
//! built with ARGS, because a release build inside `cargo test` would take
//! minutes. Everything else (the arguments, the shell operators, `cmp`, the
//! file names) is the README's text.

use crate::support::cli::{assert_clean, write_executable, Env};
use crate::support::scrub::{self, bin};
use std::fs;
use std::path::Path;

/// The command lines of each `sh` block in the README's "Quick start" section.
fn quick_start_blocks(readme: &str) -> Vec<Vec<String>> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Quick start"))
        .expect("README.md has a '## Quick start' section");
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in section.lines() {
        let t = line.trim();
        match (&mut current, t) {
            (None, "```sh") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(b), _) if !t.is_empty() && !t.starts_with('#') => b.push(t.to_owned()),
            _ => {}
        }
    }
    blocks
}

const CARGO_STAND_IN: &str = r#"#!/bin/sh
# Stand-in for `cargo run --release -- ARGS`: runs the envelope binary under test.
echo "$*" >> "$QUICK_START_LOG"
if [ "$1" != run ] || [ "$2" != --release ] || [ "$3" != -- ]; then
    echo "cargo stand-in: unexpected arguments: $*" >&2
    exit 99
fi
shift 3
exec "$ENVELOPE_UNDER_TEST" "$@"
"#;

#[cfg(unix)]
#[test]
fn readme_quick_start_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = quick_start_blocks(&readme);
    assert_eq!(
        blocks.len(),
        2,
        "the quick start is two commands: run it, test it"
    );
    assert_eq!(blocks[1], ["bash scripts/test.sh"]);
    assert!(root.join("scripts/test.sh").is_file());
    assert_eq!(blocks[0].len(), 1, "run it is one command line");
    let line = &blocks[0][0];
    assert!(
        line.contains("cargo run --release -- encrypt -i README.md"),
        "{line}"
    );
    assert!(line.contains("cargo run --release -- decrypt"), "{line}");

    let env = Env::new();
    fs::copy(root.join("README.md"), env.path("README.md")).unwrap();
    let stand_in_dir = env.home().with_file_name("bin");
    fs::create_dir(&stand_in_dir).unwrap();
    let cargo = stand_in_dir.join("cargo");
    write_executable(&cargo, CARGO_STAND_IN);
    let log = stand_in_dir.join("calls.log");
    let path = format!(
        "{}:{}",
        stand_in_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let run = || {
        let out = scrub::command("sh")
            .arg("-c")
            .arg(line)
            .current_dir(env.dir())
            .env("PATH", &path)
            .env("QUICK_START_LOG", &log)
            .env("ENVELOPE_UNDER_TEST", bin())
            .env("ENVELOPE_HOME", env.home())
            .output()
            .unwrap();
        assert_clean(&out.stderr);
        out
    };
    let out = run();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the quick start failed: {err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "round trip OK");
    // The first run on a fresh machine sets up the key store and default key, and says so.
    assert!(err.contains("created a new key store in"), "{err}");
    assert!(
        err.contains("created the default key alias/envelope-default"),
        "{err}"
    );
    assert_eq!(env.read("README.md.decrypted"), env.read("README.md"));
    let calls = fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].starts_with("run --release -- encrypt"));
    assert!(calls[1].starts_with("run --release -- decrypt"));
    // The message is an ESDK message under the default KMS-core key.
    let v: serde_json::Value =
        serde_json::from_slice(&env.ok(&["inspect", "--json", "README.md.encrypted"]).stdout).unwrap();
    assert_eq!(v["encrypted_data_keys"][0]["provider_id"], "aws-kms");

    // As the README says, a second run refuses to overwrite (exit code 2).
    let out = run();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists: use --force"));

    // The outputs are ignored by git, so the quick start leaves a clean checkout.
    let ignore = fs::read_to_string(root.join(".gitignore")).unwrap();
    for f in ["README.md.encrypted", "README.md.decrypted"] {
        assert!(
            ignore.lines().any(|l| l.trim_start_matches('/') == f),
            "{f} not in .gitignore"
        );
    }
}
