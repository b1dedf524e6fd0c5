//! The test support's own promises, checked: the scrub knows every variable
//! the library reads and removes every `ENVELOPE_*` and `AWS_*` setting, and
//! a missing `../shared` is said out loud, fails under `CI=true`, and a
//! present but broken one fails.
//!
//! Environment variables are process-wide, so the cases that need some set
//! run this test binary again as a child (one test, `--exact`) with them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::scrub::{self, aws_isolation, is_scrubbed, AWS_VARS, ENVELOPE_VARS};
use crate::support::shared::{ABSENT, DIR_VAR};

/// Set in a child run: the test prints what it observes instead of checking it.
const PROBE: &str = "SUPPORT_CHECKS_PROBE";

/// This test binary, running only the test `name` (a path below the crate
/// root, e.g. `vectors::manifests_match_expectations`).
fn this_binary_running(name: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["--exact", name, "--test-threads=1", "--nocapture"]);
    c.env_remove(PROBE);
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A child run's stdout and stderr (a failing test's message is on stderr
/// under `--nocapture`).
fn everything(out: &Output) -> String {
    text(&out.stdout) + &text(&out.stderr)
}

// ---------------------------------------------------------------- scrub

/// The Rust files under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The string literal that starts right after `at` in `line`, if any.
fn literal_after<'a>(line: &'a str, at: &str) -> Option<&'a str> {
    let rest = &line[line.find(at)? + at.len()..];
    let rest = rest.trim_start().strip_prefix('"')?;
    rest.split('"').next()
}

/// Variable names with the file each stands in.
type Places = Vec<(String, String)>;

/// Every `const ENV_…: &str = "…"` the library defines, and every variable
/// it reads by a literal name (`env::var("…")`, `var_os("…")`, clap's
/// `env = "…"`), with the file each is in. This is how the check learns of a
/// variable added later.
fn library_variables() -> (Places, Places) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let (mut consts, mut reads) = (Vec::new(), Vec::new());
    for f in files {
        let shown = f
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap()
            .display()
            .to_string();
        for line in fs::read_to_string(&f).unwrap().lines() {
            if let Some(start) = line.find("const ENV_") {
                let decl = &line[start..];
                if let Some(value) = literal_after(decl, "=") {
                    consts.push((shown.clone(), value.to_owned()));
                }
            }
            let clap_attribute = line.contains("#[arg(") || line.contains("#[clap(");
            for at in ["env::var(", "var_os(", "env = "] {
                if at == "env = " && !clap_attribute {
                    continue;
                }
                if let Some(name) = literal_after(line, at) {
                    reads.push((shown.clone(), name.to_owned()));
                }
            }
        }
    }
    (consts, reads)
}

/// The scrub list is the library's own: every `ENV_*` name the library
/// defines is in it and it names nothing the library does not define, and
/// every variable the library reads by a literal name is scrubbed.
#[test]
fn the_scrub_knows_every_variable_the_library_reads() {
    let (consts, reads) = library_variables();
    let defined: Vec<&str> = consts.iter().map(|(_, v)| v.as_str()).collect();
    for (file, name) in &consts {
        assert!(
            ENVELOPE_VARS.contains(&name.as_str()),
            "{file} defines the variable {name}, which tests/support/scrub.rs's ENVELOPE_VARS lacks"
        );
    }
    for name in ENVELOPE_VARS {
        assert!(
            defined.contains(&name),
            "ENVELOPE_VARS names {name}, which no ENV_* constant of src/ defines"
        );
    }
    for (file, name) in &reads {
        assert!(
            is_scrubbed(name),
            "{file} reads the variable {name}, which tests/support/scrub.rs does not remove"
        );
    }
}

/// A command built by the scrub, started from a process whose environment
/// has every known variable and two unknown ones set, sees none of them.
#[test]
fn a_scrubbed_command_sees_no_envelope_or_aws_setting() {
    const BEGIN: &str = "---- environment of a scrubbed command";
    const END: &str = "---- end";
    if std::env::var_os(PROBE).is_some() {
        let out = scrub::command("env").output().unwrap();
        assert!(out.status.success());
        println!("{BEGIN}\n{}{END}", text(&out.stdout));
        return;
    }
    let planted = "planted-by-the-test";
    let unknown = ["ENVELOPE_NOT_YET_INVENTED", "AWS_NOT_YET_INVENTED"];
    let mut child = this_binary_running("support_checks::a_scrubbed_command_sees_no_envelope_or_aws_setting");
    child.env(PROBE, "1");
    for v in ENVELOPE_VARS.iter().chain(&AWS_VARS).chain(&unknown) {
        child.env(v, planted);
    }
    let out = child.output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let seen = stdout
        .split_once(BEGIN)
        .and_then(|(_, rest)| rest.split_once(END))
        .map(|(env, _)| env)
        .unwrap_or_else(|| panic!("the probe printed no environment: {stdout}"));
    let isolation: Vec<String> = aws_isolation()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.display()))
        .collect();
    assert!(seen.contains("PATH="), "not an environment listing: {seen}");
    for line in seen.lines() {
        let name = line.split('=').next().unwrap_or_default();
        if is_scrubbed(name) {
            assert!(
                isolation.contains(&line.to_owned()),
                "the scrub let {line} through"
            );
        }
        assert!(!line.contains(planted), "the scrub let {line} through");
    }
    for want in &isolation {
        assert!(seen.lines().any(|l| l == want), "{want} is not set: {seen}");
    }
}

// ---------------------------------------------------------------- ../shared

/// Runs the official vectors' manifest check with the shared directory at
/// `dir`, under `CI=true` when `ci`.
fn vectors_check(dir: &Path, ci: bool) -> Output {
    let mut c = this_binary_running("vectors::manifests_match_expectations");
    c.env(DIR_VAR, dir);
    if ci {
        c.env("CI", "true");
    } else {
        c.env_remove("CI");
    }
    c.output().unwrap()
}

#[test]
fn an_absent_shared_dir_is_said_and_fails_under_ci() {
    let tmp = tempfile::tempdir().unwrap();
    let absent = tmp.path().join("no-such-dir");

    let out = vectors_check(&absent, false);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with(ABSENT))
        .unwrap_or_else(|| panic!("no {ABSENT:?} line: {stderr}"));
    assert!(line.contains(&absent.display().to_string()), "{line}");
    assert!(line.contains("vectors::manifests_match_expectations"), "{line}");

    let out = vectors_check(&absent, true);
    let all = everything(&out);
    assert!(
        !out.status.success(),
        "passed under CI=true without the vectors: {all}"
    );
    assert!(all.contains("absent and CI=true"), "{all}");
}

#[test]
fn a_present_shared_dir_without_its_vectors_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("shared");
    fs::create_dir(&root).unwrap();
    // No vectors folder at all.
    let out = vectors_check(&root, false);
    let all = everything(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("is present but"), "{all}");
    // A vectors folder without its expectations file.
    fs::create_dir(root.join("vectors")).unwrap();
    let out = vectors_check(&root, false);
    let all = everything(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("expectations.json"), "{all}");
    // Neither is an absence: nothing says "absent".
    assert!(!all.contains(ABSENT), "{all}");
}

/// `support::shared` is the only code that locates the shared directory:
/// no other test or library file names `../shared` or its variable.
#[test]
fn nothing_else_locates_the_shared_dir() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("tests"), &mut files);
    rust_files(&root.join("benches"), &mut files);
    // Spelled in pieces, so that this file does not match itself.
    let needles = [concat!("\"..", "/shared"), concat!("\"ENVELOPE_", "SHARED_DIR\"")];
    let locator = root.join("tests/support/shared.rs");
    let mut found = Vec::new();
    for f in files.iter().filter(|f| **f != locator) {
        let text = fs::read_to_string(f).unwrap();
        for needle in needles {
            if text.contains(needle) {
                found.push(format!(
                    "{} names {needle}",
                    f.strip_prefix(root).unwrap().display()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "locate the shared directory with support::shared:\n{}",
        found.join("\n")
    );
    // The locator itself holds both, so the search can find them.
    let text = fs::read_to_string(&locator).unwrap();
    assert!(needles.iter().all(|n| text.contains(n)), "the needles are stale");
}
