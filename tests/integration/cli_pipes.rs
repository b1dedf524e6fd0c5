//! envelope in pipelines: `tar c | envelope encrypt | envelope decrypt | tar x`,
//! binary exactness on stdin/stdout, a reader that goes away (broken pipe),
//! and terminal manners (the progress bar on a terminal only, no ciphertext
//! to a terminal) checked under a pseudo-terminal made by `script`.

use std::io::Read;
use std::process::{Command, Stdio};

use crate::support::cli::{assert_clean, bytes, tree, Env};
use crate::support::scrub::{self, bin};

/// Runs `script` in `sh -c` in the test's directory with its key store and
/// `$ENVELOPE` set to the binary (and none of the developer's settings).
fn sh(env: &Env, script: &str) -> std::process::Output {
    let out = scrub::command("sh")
        .arg("-c")
        .arg(script)
        .current_dir(env.dir())
        .env("ENVELOPE", bin())
        .env("ENVELOPE_HOME", env.home())
        .output()
        .expect("sh must be available");
    assert_clean(&out.stderr);
    out
}

#[test]
fn tar_through_encrypt_and_decrypt_reproduces_the_tree() {
    let env = Env::new();
    env.write("src/readme.txt", b"hello\n");
    env.write("src/data/big.bin", &bytes(3 << 20, 5));
    env.write("src/data/nested/deeper/small", b"x");
    env.write("src/empty", b"");
    std::fs::create_dir_all(env.path("src/empty-dir")).unwrap();
    std::fs::create_dir(env.path("dst")).unwrap();
    // The first-run notes go to stderr; stdout carries only the message.
    let out = sh(
        &env,
        r#"set -e
        tar -C src -cf - . | "$ENVELOPE" encrypt -c purpose=tar | "$ENVELOPE" decrypt -c purpose | tar -C dst -xf -
        echo done"#,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "done",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(tree(&env.path("src")), tree(&env.path("dst")));

    // The same through a file, with a raw AES key, and the decrypt side
    // refusing the wrong context: tar sees no input and the pipeline fails.
    let key = "-w provider=raw-aes key=aes.key namespace=ns name=k";
    env.write("aes.key", &bytes(32, 6));
    let out = sh(
        &env,
        &format!(
            r#"tar -C src -cf - . | "$ENVELOPE" encrypt {key} -c purpose=tar > dir.tar.enc || exit 10
            "$ENVELOPE" decrypt {key} -c purpose=other < dir.tar.enc > wrong.tar; echo "rc=$?"
            mkdir dst2 && "$ENVELOPE" decrypt {key} < dir.tar.enc | tar -C dst2 -xf - && echo ok"#
        ),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("rc=1"), "{text}");
    assert!(
        text.contains("ok"),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::metadata(env.path("wrong.tar")).unwrap().len(), 0);
    assert_eq!(tree(&env.path("src")), tree(&env.path("dst2")));
}

#[test]
fn stdin_to_stdout_is_byte_exact() {
    let env = Env::new();
    for (i, size) in [0usize, 1, 4095, 4096, 65536, 1 << 20, (1 << 20) + 7]
        .into_iter()
        .enumerate()
    {
        let plain = bytes(size, 10 + i as u64);
        let enc = env.run_stdin(&["-q", "encrypt", "--frame-length", "4096"], &plain);
        assert!(enc.status.success(), "{}", String::from_utf8_lossy(&enc.stderr));
        // Only the first run creates the key store, and says so even with -q.
        assert_eq!(
            enc.stderr.is_empty(),
            i > 0,
            "{}",
            String::from_utf8_lossy(&enc.stderr)
        );
        let dec = env.run_stdin(&["decrypt"], &enc.stdout);
        assert!(dec.status.success(), "{}", String::from_utf8_lossy(&dec.stderr));
        assert!(dec.stderr.is_empty());
        assert_eq!(dec.stdout, plain, "size {size}");
        // The explicit - forms mean the same.
        let dec = env.run_stdin(&["decrypt", "-i", "-", "-o", "-", "--buffer"], &enc.stdout);
        assert_eq!(dec.stdout, plain, "size {size}");
        // stdin into a file.
        let dec = env.run_stdin(&["decrypt", "-o", "out", "-f"], &enc.stdout);
        assert!(dec.status.success());
        assert_eq!(env.read("out"), plain);
    }
}

/// Starts `args` with stdout to a pipe, reads `keep` bytes, closes the pipe,
/// and returns the exit status and stderr.
fn reader_goes_away(env: &Env, args: &[&str], keep: usize) -> (Option<i32>, String) {
    let mut child = env
        .cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = vec![0u8; keep];
    stdout.read_exact(&mut buf).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_clean(&out.stderr);
    (out.status.code(), err)
}

#[test]
fn broken_pipe_ends_quietly() {
    let env = Env::new();
    env.write("big", &bytes(8 << 20, 7));
    env.ok(&["-q", "encrypt", "-i", "big", "-o", "big.enc"]);
    let (code, err) = reader_goes_away(&env, &["decrypt", "-i", "big.enc"], 10);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(err, "");
    let (code, err) = reader_goes_away(&env, &["encrypt", "-i", "big"], 10);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(err, "");
    // A kms response to a reader that has gone before it was written.
    let (code, err) = reader_goes_away(&env, &["kms", "list-keys"], 0);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(err, "");
    // The same through a shell pipeline into head.
    let out = sh(&env, r#""$ENVELOPE" decrypt -i big.enc | head -c 5 | wc -c"#);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5");
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Whether `script` (util-linux) can give a command a pseudo-terminal here.
fn have_script() -> bool {
    Command::new("script")
        .args(["-qec", "true", "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `command` under `script`, so its stdin, stdout and stderr are a
/// terminal; returns everything the terminal showed.
fn on_terminal(env: &Env, command: &str) -> String {
    let out = sh(env, &format!("script -qec '{command}' /dev/null"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn terminal_manners() {
    let env = Env::new();
    env.write("p", &bytes(3 << 20, 8));
    env.ok(&["-q", "encrypt", "-i", "p", "-o", "p.enc"]);

    // Without a terminal: no bar and no escape codes, even for a slow input.
    let out = sh(&env, r#"(cat p; sleep 1.3) | "$ENVELOPE" encrypt -o slow.enc"#);
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));

    if !have_script() {
        // Without a pseudo-terminal the terminal-only behaviour cannot be shown;
        // the half above still ran. Fail loudly rather than pass silently.
        panic!("`script` (util-linux) is needed to test the progress bar on a terminal");
    }
    // On a terminal, a run that lasts over a second shows a bar on stderr ...
    let shown = on_terminal(&env, r#"(cat p; sleep 1.5) | "$ENVELOPE" encrypt -o bar.enc"#);
    assert!(
        shown.contains("stdin") && shown.contains("MiB"),
        "no progress bar: {shown:?}"
    );
    let dec = env.ok(&["decrypt", "-i", "bar.enc"]);
    assert_eq!(dec.stdout, env.read("p"), "the bar must not touch the data");
    // ... -q silences it ...
    let quiet = on_terminal(
        &env,
        r#"(cat p; sleep 1.5) | "$ENVELOPE" -q encrypt -o quiet.enc"#,
    );
    assert_eq!(quiet, "", "-q must silence the bar");
    // ... and a quick run shows nothing.
    let quick = on_terminal(&env, r#""$ENVELOPE" decrypt -i p.enc -o quick.out"#);
    assert_eq!(quick, "");
    // Ciphertext is never written to a terminal; plaintext may be.
    let refused = on_terminal(&env, r#""$ENVELOPE" encrypt -i p; echo "rc=$?""#);
    assert!(
        refused.contains("refusing to write ciphertext to a terminal"),
        "{refused:?}"
    );
    assert!(refused.contains("rc=2"), "{refused:?}");
    env.write("short", b"plain words\n");
    env.ok(&["-q", "encrypt", "-i", "short", "-o", "short.enc"]);
    let shown = on_terminal(&env, r#""$ENVELOPE" decrypt -i short.enc"#);
    assert!(shown.contains("plain words"), "{shown:?}");
    // With the data itself on the terminal, no bar is drawn over it, however long the run.
    let shown = on_terminal(&env, r#"(cat short.enc; sleep 1.5) | "$ENVELOPE" decrypt"#);
    assert_eq!(shown.trim(), "plain words", "{shown:?}");
}

/// Issue 16, item 1: typed input on a terminal ends at the first Ctrl-D, as for
/// `cat`. A pseudo-terminal (Python's `pty`) plays the terminal: it sends
/// "abc", Enter, Ctrl-D, and a second Ctrl-D only if envelope is still waiting
/// five seconds later. The output must then decrypt to the typed line.
#[cfg(unix)]
#[test]
fn terminal_stdin_ends_at_the_first_ctrl_d() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    crate::support::fixtures::write_key_file(&key);
    let out = dir.path().join("typed.enc");
    let script = r#"
import os, pty, subprocess, sys, time
master, slave = pty.openpty()
p = subprocess.Popen(sys.argv[1:], stdin=slave, stderr=subprocess.DEVNULL)
os.close(slave)
time.sleep(0.5)
os.write(master, b"abc\n")
time.sleep(0.3)
os.write(master, b"\x04")
try:
    rc = p.wait(timeout=5)
except subprocess.TimeoutExpired:
    os.write(master, b"\x04")
    p.wait(timeout=5)
    print("waited for a second Ctrl-D")
    sys.exit(3)
sys.exit(rc)
"#;
    let mut cmd = crate::support::scrub::command("python3");
    cmd.arg("-c")
        .arg(script)
        .arg(crate::support::scrub::bin())
        .args(["-q", "encrypt", "-o"])
        .arg(&out);
    cmd.args(crate::support::fixtures::raw_aes_words(&key));
    let run = cmd.output().expect("python3 runs");
    assert!(
        run.status.success(),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    let ct = std::fs::read(&out).unwrap();
    let k = crate::support::fixtures::keyring();
    let pt = envelope::stream::decrypt(&k, &envelope::stream::DecryptOptions::default(), &ct).unwrap();
    assert_eq!(pt.plaintext, b"abc\n");
}

/// `decrypt --buffer` to stdout holds at most 64 MiB of plaintext in
/// memory; the rest waits in an unnamed temporary file that never appears
/// in `$TMPDIR`. A 100 MB message comes out whole with the child's peak
/// memory under 100 MB (the old `Vec` grew past 128 MiB), and a truncated
/// one writes nothing. (That the held plaintext leaves no copy in freed
/// memory is `tests/zeroize.rs`'s `buffered_plaintext_leaves_no_copy_behind`.)
#[test]
fn buffer_to_stdout_is_bounded_in_memory_and_leaves_no_temporary_file() {
    use crate::support::cli::{aes_key, with};
    let env = Env::new();
    let aes = aes_key(&env);
    let plain = bytes(100_000_000, 5);
    env.write("big", &plain);
    env.ok(&with(&["encrypt", "-i", "big", "-o", "big.enc"], &aes));
    let msg = env.read("big.enc");
    env.write("cut.enc", &msg[..msg.len() - 200]);
    std::fs::create_dir(env.path("tmp")).unwrap();
    // Peak memory (KiB) and exit code of the child, from Python's rusage.
    let script = r#"
import resource, subprocess, sys
with open(sys.argv[1], "wb") as out:
    rc = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.DEVNULL).returncode
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"#;
    for (input, want_rc) in [("big.enc", 0), ("cut.enc", 1)] {
        let mut cmd = scrub::command("python3");
        cmd.current_dir(env.dir())
            .env("ENVELOPE_HOME", env.home())
            .env("TMPDIR", env.path("tmp"))
            .arg("-c")
            .arg(script)
            .arg(env.path("out"))
            .arg(bin())
            .args(["decrypt", "--buffer", "-i", input]);
        cmd.args(&aes);
        let run = cmd.output().expect("python3 runs");
        let report = String::from_utf8_lossy(&run.stdout).into_owned();
        let mut words = report.split_whitespace().map(|w| w.parse::<u64>().unwrap());
        let (rc, peak_kib) = (words.next().unwrap(), words.next().unwrap());
        assert_eq!(rc, want_rc, "{input}: {report}");
        assert!(peak_kib < 100_000, "{input}: peak {peak_kib} KiB");
        let out = env.read("out");
        if want_rc == 0 {
            assert!(out == plain, "{input}: the output differs");
        } else {
            assert!(out.is_empty(), "{input}: {} bytes released", out.len());
        }
        let left: Vec<_> = std::fs::read_dir(env.path("tmp")).unwrap().collect();
        assert!(left.is_empty(), "{input}: {left:?}");
    }
}
