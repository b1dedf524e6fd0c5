//! Ctrl-C (SIGINT) and SIGTERM in the middle of writing a file output: the
//! temporary file is removed, nothing appears under the final name, an
//! existing file is untouched, and the exit code is 130.
#![cfg(unix)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::fixtures::{raw_aes_words, KEY};
use crate::support::scrub;

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".envelope-"))
        .collect()
}

fn interrupt_while_writing(signal: &str, force_over_existing: bool) {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("aes.key");
    std::fs::write(&key, KEY).unwrap();
    let out = dir.path().join("out.encrypted");
    if force_over_existing {
        std::fs::write(&out, b"precious").unwrap();
    }
    let mut args = vec!["encrypt".to_owned(), "-o".into(), out.display().to_string()];
    args.extend(raw_aes_words(&key));
    if force_over_existing {
        args.push("--force".into());
    }
    // stdin stays open, so the encryption is still running when the signal comes.
    let mut child = scrub::envelope()
        .args(&args)
        .env("ENVELOPE_HOME", dir.path().join("home"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&vec![1u8; 3 << 20]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while temp_files(dir.path()).is_empty() {
        assert!(Instant::now() < deadline, "no temporary output file appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args([format!("-{signal}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = child.wait().unwrap().code();
    drop(stdin);
    assert_eq!(code, Some(130), "exit code after SIG{signal}");
    assert!(
        temp_files(dir.path()).is_empty(),
        "temporary files left: {:?}",
        temp_files(dir.path())
    );
    if force_over_existing {
        assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    } else {
        assert!(!out.exists(), "a partial output appeared under the final name");
    }
}

#[test]
fn sigint_removes_the_temporary_file() {
    interrupt_while_writing("INT", false);
}

#[test]
fn sigterm_leaves_an_existing_file_untouched() {
    interrupt_while_writing("TERM", true);
}
