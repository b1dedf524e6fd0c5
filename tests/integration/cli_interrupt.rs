//! Ctrl-C (SIGINT) and SIGTERM in the middle of writing a file output: the
//! temporary file is removed, nothing appears under the final name, an
//! existing file is untouched, and the exit code is 130.
#![cfg(unix)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::fixtures::{raw_aes_words, write_key_file};
use crate::support::scrub;

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".envelope-"))
        .collect()
}

/// Sends SIG`signal` to an encryption from stdin into a file while it
/// writes; checks what it left, and returns its stderr.
fn interrupt_while_writing(signal: &str, force_over_existing: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("aes.key");
    write_key_file(&key);
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
        .stderr(Stdio::piped())
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
    let done = child.wait_with_output().unwrap();
    drop(stdin);
    assert_eq!(done.status.code(), Some(130), "exit code after SIG{signal}");
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
    String::from_utf8_lossy(&done.stderr).into_owned()
}

/// The one line an interrupted run prints.
const INTERRUPTED: &str = "envelope: interrupted; removed 1 unfinished output file(s)\n";

#[test]
fn sigint_removes_the_temporary_file_and_says_so_in_one_line() {
    assert_eq!(interrupt_while_writing("INT", false), INTERRUPTED);
}

#[test]
fn sigterm_leaves_an_existing_file_untouched() {
    assert_eq!(interrupt_while_writing("TERM", true), INTERRUPTED);
}

/// A process id that no process has now: a child that has been reaped.
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// Writes a file named `name` in `dir`, last changed `age` ago.
fn leftover(dir: &Path, name: String, age: Duration) -> String {
    let f = std::fs::File::create(dir.join(&name)).unwrap();
    f.set_modified(std::time::SystemTime::now() - age).unwrap();
    name
}

#[cfg(target_os = "linux")]
#[test]
fn a_later_run_removes_what_killed_runs_left_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("aes.key");
    write_key_file(&key);
    let hour = Duration::from_secs(3600);
    let dead = dead_pid();
    let stale = leftover(dir.path(), format!(".envelope-{dead}-killed.tmp"), hour);
    // The test process is alive: its file may be a running output.
    let me = std::process::id();
    let live = leftover(dir.path(), format!(".envelope-{me}-running.tmp"), hour);
    // A dead PID's file that changed just now may be another PID namespace's live run.
    let fresh = leftover(dir.path(), format!(".envelope-{dead}-recent.tmp"), Duration::ZERO);
    // The older naming carries no PID: nothing tells whose it is.
    let unnamed = leftover(dir.path(), ".envelope-Ab12.tmp".into(), hour);
    std::fs::write(dir.path().join("in.txt"), b"data").unwrap();
    let mut args = vec![
        "encrypt".to_owned(),
        "-i".into(),
        "in.txt".into(),
        "-o".into(),
        "in.enc".into(),
    ];
    args.extend(raw_aes_words(&key));
    let out = scrub::envelope()
        .args(&args)
        .env("ENVELOPE_HOME", dir.path().join("home"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("removed 1 temporary file(s) left by runs that were killed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut left = temp_files(dir.path());
    left.sort();
    let mut want = vec![live, fresh, unnamed];
    want.sort();
    assert_eq!(left, want, "only {stale} goes");
}

#[test]
fn an_interrupted_directory_run_continues_with_skip_existing() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("aes.key");
    write_key_file(&key);
    for name in ["a", "b", "c"] {
        std::fs::create_dir_all(dir.path().join("tree/sub")).unwrap();
        std::fs::write(dir.path().join("tree/sub").join(name), name.as_bytes()).unwrap();
    }
    let run = |more: &[&str]| {
        let mut args: Vec<String> = ["encrypt", "-r", "-i", "tree", "-o", "out"]
            .map(String::from)
            .to_vec();
        args.extend(raw_aes_words(&key));
        args.extend(more.iter().map(|s| s.to_string()));
        scrub::envelope()
            .args(&args)
            .env("ENVELOPE_HOME", dir.path().join("home"))
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    assert!(run(&[]).status.success());
    // As if the run had been killed before c's output was renamed into place.
    let done = std::fs::read(dir.path().join("out/sub/a.encrypted")).unwrap();
    std::fs::remove_file(dir.path().join("out/sub/c.encrypted")).unwrap();
    let again = run(&[]);
    assert_eq!(again.status.code(), Some(2), "a rerun refuses existing outputs");
    let resumed = run(&["--skip-existing"]);
    let err = String::from_utf8_lossy(&resumed.stderr);
    assert!(resumed.status.success(), "{err}");
    assert!(err.contains("skipping 2 file(s) whose output exists"), "{err}");
    assert!(dir.path().join("out/sub/c.encrypted").is_file());
    assert_eq!(
        std::fs::read(dir.path().join("out/sub/a.encrypted")).unwrap(),
        done,
        "untouched"
    );
}

/// On a terminal, Ctrl-C clears the progress bar's last frame before the
/// `interrupted` line, so that no stale frame stays on screen. A
/// pseudo-terminal (Python's `pty`) is stderr; the signal comes once the bar
/// has drawn.
#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_on_a_terminal_replaces_the_bar_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("aes.key");
    write_key_file(&key);
    let script = r#"
import os, pty, select, signal, subprocess, sys, time
master, slave = pty.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=slave)
os.close(slave)
seen = b""
deadline = time.monotonic() + 60
while not seen:
    if time.monotonic() > deadline:
        print("no progress bar was drawn")
        sys.exit(3)
    p.stdin.write(b"\0" * 65536)
    p.stdin.flush()
    if select.select([master], [], [], 0.05)[0]:
        seen += os.read(master, 65536)
p.send_signal(signal.SIGINT)
rc = p.wait(timeout=30)
while True:
    try:
        data = os.read(master, 65536)
    except OSError:
        break
    if not data:
        break
    seen += data
print(seen.hex())
sys.exit(rc)
"#;
    let mut cmd = crate::support::scrub::command("python3");
    cmd.arg("-c")
        .arg(script)
        .arg(crate::support::scrub::bin())
        .env("ENVELOPE_HOME", dir.path().join("home"))
        .args(["encrypt", "-o"])
        .arg(dir.path().join("out.enc"));
    cmd.args(raw_aes_words(&key));
    let run = cmd.output().expect("python3 runs");
    let text = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(130),
        "{text}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let screen: Vec<u8> = (0..text.trim().len() / 2)
        .map(|i| u8::from_str_radix(&text.trim()[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let screen = String::from_utf8_lossy(&screen);
    let line = "envelope: interrupted; removed 1 unfinished output file(s)\r\n";
    let at = screen
        .rfind(line)
        .unwrap_or_else(|| panic!("no interrupted line: {screen:?}"));
    assert_eq!(
        at + line.len(),
        screen.len(),
        "something after the line: {screen:?}"
    );
    assert!(
        screen[..at].ends_with("\r\x1b[2K"),
        "the bar was not cleared first: {screen:?}"
    );
    assert!(temp_files(dir.path()).is_empty());
}
