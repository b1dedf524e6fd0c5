//! Crash safety: processes killed with SIGKILL at random moments.
//!
//! * `envelope encrypt` / `decrypt` of a large input: no file ever appears
//!   under the output name unless it is complete and correct, and an existing
//!   output file (`--force`) is either untouched or completely replaced.
//!   Temporary files (`.envelope-*.tmp`) may be left behind by a kill; they
//!   never carry the output name.
//! * `envelope encrypt -r` / `decrypt -r` of a tree of many files (written
//!   several at a time and committed in batches): every file under an output
//!   name is complete and correct.
//! * `envelope kms` writes (create-key, rotate-key-on-demand, create-alias,
//!   update-alias, delete-alias, and the creation of a new store): the store
//!   always opens afterwards, passes SQLite's integrity check, every key whose
//!   creation was reported (its JSON reached stdout) is there, every alias
//!   names an existing key, every key still encrypts, and every ciphertext
//!   made earlier still decrypts (rotation keeps old material).
//!
//! The kill moments are drawn from a seeded generator; the seed is printed,
//! and `CRASH_SAFETY_SEED=<n>` replays a run.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use envelope::kms::{
    DecryptRequest, DescribeKeyRequest, EncryptRequest, Kms, KmsConfig, KmsCore, ListAliasesRequest,
    ListKeysRequest,
};
use envelope::stream::{decrypt, DecryptOptions};
use zeroize::Zeroizing;

use crate::support::fixtures::{keyring, raw_aes_words, write_key_file};
use crate::support::scrub;

/// xorshift64*: kill moments and test data.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("CRASH_SAFETY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        println!("CRASH_SAFETY_SEED={seed}");
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A moment in [0, 1.2 × `typical`].
    fn moment(&mut self, typical: Duration) -> Duration {
        let max = typical.as_micros() as u64 * 6 / 5;
        Duration::from_micros(self.below(max + 1))
    }
}

fn envelope() -> Command {
    let mut c = scrub::envelope();
    c.stderr(Stdio::null());
    c
}

/// How a run ended.
enum End {
    /// It finished before the kill, with this status.
    Exited(ExitStatus),
    /// It was killed.
    Killed,
}

/// Starts `cmd`, sends SIGKILL after `delay` unless it has finished, and
/// returns how it ended with everything it wrote to stdout.
fn run_and_kill(cmd: &mut Command, delay: Duration) -> (End, Vec<u8>) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + delay;
    let end = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break End::Exited(status);
        }
        let now = Instant::now();
        if now >= deadline {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            break End::Killed;
        }
        sleep((deadline - now).min(Duration::from_millis(2)));
    };
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    (end, out)
}

fn timed(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let status = cmd.stdout(Stdio::null()).status().unwrap();
    assert!(status.success());
    t.elapsed()
}

/// Checks every file in `dir` is one of `known` or a temporary file of the
/// CLI; removes (and counts) the temporary files.
fn sweep(dir: &Path, known: &[&str]) -> usize {
    let mut temps = 0;
    for e in fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if known.contains(&name.as_str()) {
            continue;
        }
        assert!(
            name.starts_with(".envelope-") && name.ends_with(".tmp"),
            "unexpected file {name} in the output directory"
        );
        fs::remove_file(dir.join(&name)).unwrap();
        temps += 1;
    }
    temps
}

const SENTINEL: &[u8] = b"an existing file that must survive intact";
/// Large enough that a run takes a while to write (~0.1-0.5 s here).
const INPUT_LEN: usize = 96 << 20;
const ROUNDS: usize = 14;

fn crypt(dir: &Path, op: &str, input: &str, output: &str, force: bool) -> Command {
    let mut c = envelope();
    c.current_dir(dir)
        .args([op, "-i", input, "-o", output])
        .args(raw_aes_words(&dir.join("key")));
    if force {
        c.arg("--force");
    }
    c
}

#[derive(Default, Debug)]
struct Tally {
    killed: usize,
    finished: usize,
    temps_left: usize,
    replaced: usize,
    untouched: usize,
}

/// Kills `op` ROUNDS times; `correct` judges a file found under the output name.
fn kill_repeatedly(
    dir: &Path,
    rng: &mut Rng,
    op: &str,
    input: &str,
    typical: Duration,
    correct: impl Fn(&[u8]) -> bool,
) -> Tally {
    let out = dir.join("out");
    let mut t = Tally::default();
    for round in 0..ROUNDS {
        // Every other round writes over an existing file with --force.
        let existing = round % 2 == 1;
        if existing {
            fs::write(&out, SENTINEL).unwrap();
        } else if out.exists() {
            fs::remove_file(&out).unwrap();
        }
        let (end, _) = run_and_kill(&mut crypt(dir, op, input, "out", existing), rng.moment(typical));
        match end {
            End::Killed => t.killed += 1,
            End::Exited(s) => {
                assert!(s.success(), "{op} failed without a kill");
                t.finished += 1;
            }
        }
        match fs::read(&out) {
            Ok(content) if existing && content == SENTINEL => {
                assert!(matches!(end, End::Killed), "{op} finished but left the old file");
                t.untouched += 1;
            }
            Ok(content) => {
                assert!(
                    correct(&content),
                    "{op}, round {round}: incomplete or wrong output"
                );
                t.replaced += 1;
            }
            Err(_) => {
                assert!(!existing, "{op}, round {round}: the existing file disappeared");
                assert!(matches!(end, End::Killed), "{op} finished without output");
            }
        }
        t.temps_left += sweep(dir, &["input", "key", "ct", "out"]);
    }
    println!("{op}: {t:?}");
    assert!(
        t.killed >= ROUNDS / 3,
        "{op}: too few runs were killed to mean anything"
    );
    t
}

#[test]
fn killed_encryption_and_decryption_never_leave_a_partial_file() {
    let mut rng = Rng::seeded();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_key_file(&d.join("key"));
    let mut input = Zeroizing::new(vec![0u8; INPUT_LEN]);
    for chunk in input.chunks_mut(8) {
        let r = rng.next().to_le_bytes();
        chunk.copy_from_slice(&r[..chunk.len()]);
    }
    fs::write(d.join("input"), &input).unwrap();

    // The fastest of three full runs: kill moments are drawn below about that,
    // so that most rounds are killed even when the machine gets less busy.
    let fastest = |op: &str, input: &str, output: &str| {
        (0..3)
            .map(|_| timed(&mut crypt(d, op, input, output, true)))
            .min()
            .unwrap_or_default()
    };
    let t_enc = fastest("encrypt", "input", "ct");
    let t_dec = fastest("decrypt", "ct", "out");
    assert!(fs::read(d.join("out")).unwrap() == *input);
    println!("full runs: encrypt {t_enc:?}, decrypt {t_dec:?}");

    let k = keyring();
    let opts = DecryptOptions::default();
    let enc = kill_repeatedly(d, &mut rng, "encrypt", "input", t_enc, |ct| {
        decrypt(&k, &opts, ct).is_ok_and(|p| p.plaintext == *input)
    });
    let dec = kill_repeatedly(d, &mut rng, "decrypt", "ct", t_dec, |p| p == &input[..]);
    // Kills landed while output was being written (a temporary file was left).
    assert!(enc.temps_left + dec.temps_left > 0, "no kill hit a run mid-write");
}

// ---------------------------------------------------------------- directories

/// Small files in the tree of the directory test, and one larger one: more
/// than two of the CLI's batches (`cli::batch::BATCH_FILES`, 1,024), so that
/// kills land while one batch is committed and the next is written.
const TREE_FILES: usize = 2_500;
const TREE_LARGE: usize = 6 << 20;
const TREE_ROUNDS: usize = 12;

/// Every file below `dir`, by path relative to it.
fn files_below(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else { continue };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                found.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    found
}

fn is_temporary(rel: &Path) -> bool {
    let name = rel.file_name().unwrap_or_default().to_string_lossy();
    name.starts_with(".envelope-") && name.ends_with(".tmp")
}

/// A tree of [`TREE_FILES`] random files of 1-5 KB in nested directories, and
/// one of [`TREE_LARGE`] bytes.
fn make_tree(root: &Path, rng: &mut Rng) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut tree = BTreeMap::new();
    for i in 0..=TREE_FILES {
        let len = if i == TREE_FILES {
            TREE_LARGE
        } else {
            1024 + rng.below(4 * 1024) as usize
        };
        let content: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let rel = PathBuf::from(format!("d{}/e{}/f{i}", i % 7, i % 3));
        fs::create_dir_all(root.join(&rel).parent().unwrap()).unwrap();
        fs::write(root.join(&rel), &content).unwrap();
        tree.insert(rel, content);
    }
    tree
}

/// `encrypt -r` / `decrypt -r` of many files, killed at random moments: every
/// file under an output name is complete and correct, whatever the moment;
/// the only other files are temporaries. Runs that were not killed produced
/// every file.
#[test]
fn killed_directory_runs_leave_only_complete_files() {
    let mut rng = Rng::seeded();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_key_file(&d.join("key"));
    let tree = make_tree(&d.join("plain"), &mut rng);
    let run = |op: &str, input: &str| {
        let mut c = envelope();
        c.current_dir(d)
            .args([op, "-r", "-i", input, "-o", "out"])
            .args(raw_aes_words(&d.join("key")));
        c
    };
    let fastest = |op: &str, input: &str, keep_as: Option<&str>| {
        let best = (0..2)
            .map(|_| {
                let _ = fs::remove_dir_all(d.join("out"));
                timed(&mut run(op, input))
            })
            .min()
            .unwrap_or_default();
        if let Some(name) = keep_as {
            fs::rename(d.join("out"), d.join(name)).unwrap();
        }
        best
    };
    let t_enc = fastest("encrypt", "plain", Some("ct"));
    let t_dec = fastest("decrypt", "ct", None);
    println!("full runs: encrypt {t_enc:?}, decrypt {t_dec:?}");

    let k = keyring();
    let opts = DecryptOptions::default();
    for (op, input, typical) in [("encrypt", "plain", t_enc), ("decrypt", "ct", t_dec)] {
        let (mut killed, mut partial, mut temps) = (0, 0, 0);
        // The kill moments follow the run's speed: the other tests of this
        // binary load the cores unevenly, so a run can take several times the
        // quiet figure (every kill lands before the first output) or a
        // fraction of a loaded one (none lands). A kill before any output
        // moves the window later, a finished run earlier; rounds go on past
        // TREE_ROUNDS (to at most three times as many) until one kill has
        // landed while files were being written.
        let mut scale = 1.0f64;
        let mut round = 0;
        while round < TREE_ROUNDS || (partial == 0 && temps == 0 && round < 3 * TREE_ROUNDS) {
            round += 1;
            let _ = fs::remove_dir_all(d.join("out"));
            let window = typical.mul_f64(scale);
            let (end, _) = run_and_kill(&mut run(op, input), rng.moment(window));
            let found = files_below(&d.join("out"));
            let mut complete = 0;
            for (rel, content) in &found {
                if is_temporary(rel) {
                    temps += 1;
                    continue;
                }
                let ok = if op == "encrypt" {
                    let plain_rel = rel.with_extension("");
                    tree.get(&plain_rel).is_some_and(|p| {
                        rel.extension().is_some_and(|x| x == "encrypted")
                            && decrypt(&k, &opts, content).is_ok_and(|m| m.plaintext == *p)
                    })
                } else {
                    tree.get(rel).is_some_and(|p| p == content)
                };
                assert!(
                    ok,
                    "{op}, round {round}: {} is incomplete, wrong or unexpected",
                    rel.display()
                );
                complete += 1;
            }
            match end {
                End::Killed => {
                    killed += 1;
                    if complete > 0 && complete < tree.len() {
                        partial += 1;
                    } else if complete == 0 && found.is_empty() {
                        scale = (scale * 1.5).min(16.0);
                    }
                }
                End::Exited(s) => {
                    assert!(s.success(), "{op} -r failed without a kill");
                    assert_eq!(complete, tree.len(), "{op} -r finished without every output");
                    scale = (scale * 0.75).max(0.25);
                }
            }
        }
        println!("{op} -r: {killed} of {round} killed, {partial} mid-run, {temps} temporaries left");
        assert!(
            killed >= round / 3,
            "{op} -r: too few runs ({killed} of {round}) were killed to mean anything"
        );
        assert!(
            partial > 0 || temps > 0,
            "{op} -r: no kill landed while files were being written"
        );
    }
}

// ---------------------------------------------------------------- KMS core

fn kms_cmd(store: &Path, args: &[&str]) -> Command {
    let mut c = envelope();
    c.arg("--keystore").arg(store).arg("kms").args(args);
    c
}

/// Keys the checks know of: reported created (`None`), or seen in the store
/// with a ciphertext made under them then (`Some`).
type Known = BTreeMap<String, Option<Vec<u8>>>;

fn json(stdout: &[u8]) -> Option<serde_json::Value> {
    serde_json::from_slice(stdout).ok()
}

fn reported_key(stdout: &[u8]) -> Option<String> {
    json(stdout)?["KeyMetadata"]["KeyId"].as_str().map(str::to_owned)
}

/// Opens the store and checks it from top to bottom.
fn check_store(store: &Path, known: &mut Known) {
    // Without SQLITE_OPEN_CREATE, so that a kill before the database existed
    // is not hidden (nor a world-readable database made) by this check
    // creating one. Not read-only: a kill mid-transaction leaves a hot
    // journal, which any opener rolls back first (a read-only one cannot).
    let db_path = store.join("kms.db");
    if db_path.exists() {
        let db = rusqlite::Connection::open_with_flags(&db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
            .unwrap();
        let ok: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
    }
    let core = KmsCore::open(KmsConfig::new(store)).expect("the store opens after a kill");
    let listed = core.list_keys(&ListKeysRequest::default()).unwrap();
    let ids: Vec<String> = listed.keys.iter().map(|k| k.key_id.clone()).collect();
    for id in known.keys() {
        assert!(ids.contains(id), "reported key {id} is missing");
    }
    for id in &ids {
        core.describe_key(&DescribeKeyRequest { key_id: id.clone() })
            .unwrap();
        let blob = core
            .encrypt(&EncryptRequest {
                key_id: id.clone(),
                plaintext: Zeroizing::new(id.as_bytes().to_vec()),
                ..Default::default()
            })
            .expect("every key encrypts")
            .ciphertext_blob;
        let earlier = known.entry(id.clone()).or_default().get_or_insert(blob).clone();
        let d = core
            .decrypt(&DecryptRequest {
                ciphertext_blob: earlier,
                ..Default::default()
            })
            .expect("an earlier ciphertext still decrypts");
        assert_eq!(&d.plaintext[..], id.as_bytes());
    }
    let aliases = core.list_aliases(&ListAliasesRequest::default()).unwrap();
    for a in aliases.aliases {
        assert!(
            ids.contains(&a.target_key_id),
            "{} names a missing key",
            a.alias_name
        );
    }
}

/// Checks the store holds only its own files. After a killed creation there
/// may also be the staging directory of a store that was never published
/// (`.creating-*`, holding the database's rollback journal if the kill came
/// while it was switched to WAL mode), and, beside the stores of earlier
/// versions, SQLite's rollback journal (SQLite replays it on the next open).
fn only_store_files(store: &Path) {
    for e in fs::read_dir(store).unwrap() {
        let f = e.unwrap().file_name().to_string_lossy().into_owned();
        let ok = ["kms.db", "kms.db-wal", "kms.db-shm", "kms.db-journal", "root.key"].contains(&f.as_str())
            || f.starts_with(".creating-");
        assert!(ok, "unexpected file {f} in the store");
    }
}

fn aliases(store: &Path) -> Vec<String> {
    let core = KmsCore::open(KmsConfig::new(store)).unwrap();
    let r = core.list_aliases(&ListAliasesRequest::default()).unwrap();
    r.aliases.into_iter().map(|a| a.alias_name).collect()
}

#[test]
fn killed_kms_writes_leave_a_consistent_store() {
    let mut rng = Rng::seeded();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut known = Known::new();
    let first = kms_cmd(&store, &["create-key"]).output().unwrap();
    known.insert(reported_key(&first.stdout).unwrap(), None);
    // How long each operation takes here (the median of three runs), so
    // that most kills land inside one.
    let key = reported_key(&kms_cmd(&store, &["create-key"]).output().unwrap().stdout).unwrap();
    let mut typical = BTreeMap::new();
    for args in [
        &["create-key"][..],
        &["rotate-key-on-demand", "--key-id", &key],
        &[
            "create-alias",
            "--alias-name",
            "alias/timing",
            "--target-key-id",
            &key,
        ],
        &[
            "update-alias",
            "--alias-name",
            "alias/timing",
            "--target-key-id",
            &key,
        ],
        &["delete-alias", "--alias-name", "alias/timing"],
    ] {
        let mut t: Vec<Duration> = (0..3)
            .map(|_| {
                let t = Instant::now();
                kms_cmd(&store, args).output().unwrap();
                t.elapsed()
            })
            .collect();
        t.sort();
        typical.insert(args[0], t[1]);
    }
    println!("kms operation times: {typical:?}");
    // Kill moments reach 1.5 times those; every fourth run is left to finish,
    // so that keys are reported created along the way.
    check_store(&store, &mut known);

    let (mut killed, mut finished, mut created) = (0, 0, 0);
    for round in 0..48 {
        let ids: Vec<String> = known.keys().cloned().collect();
        let key = ids[rng.below(ids.len() as u64) as usize].clone();
        let other = ids[rng.below(ids.len() as u64) as usize].clone();
        let names = aliases(&store);
        let existing = names.get(rng.below(names.len() as u64) as usize).cloned();
        let new_alias = format!("alias/crash-{round}");
        let args: Vec<&str> = match (rng.below(5), &existing) {
            (0, _) => vec!["create-key", "--description", "made while being killed"],
            (1, _) => vec!["rotate-key-on-demand", "--key-id", &key],
            (3, Some(a)) => vec!["update-alias", "--alias-name", a, "--target-key-id", &other],
            (4, Some(a)) => vec!["delete-alias", "--alias-name", a],
            _ => vec![
                "create-alias",
                "--alias-name",
                &new_alias,
                "--target-key-id",
                &key,
            ],
        };
        let moment = if round % 4 == 3 {
            Duration::from_secs(120)
        } else {
            rng.moment(typical[args[0]] * 5 / 4)
        };
        let (end, stdout) = run_and_kill(&mut kms_cmd(&store, &args), moment);
        match end {
            End::Killed => killed += 1,
            End::Exited(s) => {
                assert!(s.success(), "{args:?} failed without a kill");
                finished += 1;
            }
        }
        // A key whose creation was reported must be in the store from now on.
        if let Some(id) = reported_key(&stdout) {
            known.entry(id).or_default();
            created += 1;
        }
        check_store(&store, &mut known);
        only_store_files(&store);
    }
    println!("kms writes: {killed} killed, {finished} finished, {created} keys reported created");
    assert!(killed >= 12, "too few runs were killed to mean anything");
}

#[test]
fn killed_store_creation_leaves_a_usable_store() {
    let mut rng = Rng::seeded();
    let dir = tempfile::tempdir().unwrap();
    let typical = (0..3)
        .map(|i| {
            timed(&mut kms_cmd(
                &dir.path().join(format!("timing-{i}")),
                &["create-key"],
            ))
        })
        .min()
        .unwrap();
    let mut killed = 0;
    for round in 0..12 {
        let store: PathBuf = dir.path().join(format!("store-{round}"));
        let (end, stdout) = run_and_kill(&mut kms_cmd(&store, &["create-key"]), rng.moment(typical));
        if matches!(end, End::Killed) {
            killed += 1;
        }
        let mut known = Known::new();
        if let Some(id) = reported_key(&stdout) {
            known.insert(id, None);
        }
        if store.exists() {
            only_store_files(&store);
            check_store(&store, &mut known);
        } else {
            assert!(known.is_empty(), "a key was reported but there is no store");
        }
    }
    println!("store creation: {killed} of 12 killed");
    assert!(killed >= 4, "too few runs were killed to mean anything");
}

/// A store of `KEYS` keys (every tenth rotated once), with a ciphertext of
/// `material-N` under each key version, made in `dir`.
fn rekey_store(dir: &Path, passphrase: Option<&str>) -> Vec<(Vec<u8>, Vec<u8>)> {
    const KEYS: usize = 400;
    let core = KmsCore::open(rekey_config(dir, passphrase)).unwrap();
    let mut blobs = Vec::new();
    for i in 0..KEYS {
        let id = core.create_key(&Default::default()).unwrap().key_metadata.key_id;
        for round in 0..(1 + usize::from(i % 10 == 0)) {
            if round == 1 {
                core.rotate_key_on_demand(&envelope::kms::KeyIdRequest { key_id: id.clone() })
                    .unwrap();
            }
            let plain = format!("material-{i}-{round}").into_bytes();
            let blob = core
                .encrypt(&EncryptRequest {
                    key_id: id.clone(),
                    plaintext: Zeroizing::new(plain.clone()),
                    encryption_context: Default::default(),
                    encryption_algorithm: None,
                })
                .unwrap()
                .ciphertext_blob;
            blobs.push((blob, plain));
        }
    }
    blobs
}

fn rekey_config(dir: &Path, passphrase: Option<&str>) -> KmsConfig {
    let mut c = KmsConfig::new(dir);
    c.passphrase = passphrase.map(|p| Zeroizing::new(p.as_bytes().to_vec()));
    c
}

/// A private copy of the store directory `from` at `to`, with `root.key`
/// set to `root_key` where given (and no pending key file then).
fn copy_store(from: &Path, to: &Path, root_key: Option<&[u8]>) {
    use std::os::unix::fs::PermissionsExt;
    let _ = fs::remove_dir_all(to);
    fs::create_dir(to).unwrap();
    fs::set_permissions(to, fs::Permissions::from_mode(0o700)).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    if let Some(k) = root_key {
        fs::write(to.join("root.key"), k).unwrap();
        let _ = fs::remove_file(to.join("root.key.new"));
    }
}

/// Whether the store in `dir` opens under `passphrase` (or its key file)
/// and every ciphertext made before decrypts to its plaintext. A store that
/// opens but loses a key fails the test.
fn rekey_opens(dir: &Path, passphrase: Option<&str>, blobs: &[(Vec<u8>, Vec<u8>)]) -> bool {
    let core = match KmsCore::open_existing(rekey_config(dir, passphrase)) {
        Ok(c) => c,
        Err(e) => {
            assert_eq!(e.kind, envelope::kms::KmsErrorKind::AccessDeniedException, "{e}");
            return false;
        }
    };
    for (blob, plain) in blobs {
        let r = core
            .decrypt(&DecryptRequest {
                ciphertext_blob: blob.clone(),
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("a key was lost: {e}"));
        assert_eq!(&r.plaintext[..], &plain[..]);
    }
    true
}

/// `envelope kms change-root-key`, killed at random moments, in both modes:
/// afterwards exactly one of the old and the new root key (or passphrase)
/// opens the store, and under it every key of the store decrypts what it
/// encrypted before. A run that finished leaves the new one.
#[test]
fn a_killed_root_key_change_leaves_exactly_one_root_key_working() {
    let mut rng = Rng::seeded();
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("new-pass"), "the new passphrase\n").unwrap();
    for passphrase in [None, Some("the old passphrase")] {
        let pristine = tmp.path().join("pristine");
        let _ = fs::remove_dir_all(&pristine);
        let blobs = rekey_store(&pristine, passphrase);
        let old_key = fs::read(pristine.join("root.key")).ok();
        let change = |dir: &Path| {
            let mut c = kms_cmd(dir, &["change-root-key"]);
            if let Some(p) = passphrase {
                c.env("ENVELOPE_PASSPHRASE", p)
                    .arg("--new-passphrase-file")
                    .arg(tmp.path().join("new-pass"));
            }
            c
        };
        let round_dir = tmp.path().join("round");
        // The fastest of three full runs, so that a busy moment while timing
        // does not put the kills after the end of most runs.
        let typical = (0..3)
            .map(|_| {
                copy_store(&pristine, &round_dir, None);
                timed(&mut change(&round_dir))
            })
            .min()
            .unwrap();
        println!("change-root-key ({passphrase:?}) takes {typical:?}");
        let (mut old_won, mut new_won, mut finished) = (0, 0, 0);
        for _ in 0..16 {
            copy_store(&pristine, &round_dir, None);
            // In [0.3, 1.0] × the fastest run: mostly past the start-up (and a
            // passphrase's Argon2id), around the re-sealing and its commit.
            let moment = typical * 3 / 10 + rng.moment(typical * 7 / 12);
            let (end, _) = run_and_kill(&mut change(&round_dir), moment);
            let (old_ok, new_ok) = match passphrase {
                Some(old) => (
                    rekey_opens(&round_dir, Some(old), &blobs),
                    rekey_opens(&round_dir, Some("the new passphrase"), &blobs),
                ),
                None => {
                    let old_key = old_key.as_deref().unwrap();
                    // The key that is not the old one, if the run made one yet.
                    let new_key = [round_dir.join("root.key"), round_dir.join("root.key.new")]
                        .iter()
                        .filter_map(|p| fs::read(p).ok())
                        .find(|k| k != old_key);
                    let probe = tmp.path().join("probe");
                    copy_store(&round_dir, &probe, Some(old_key));
                    let old_ok = rekey_opens(&probe, None, &blobs);
                    let new_ok = new_key.is_some_and(|k| {
                        copy_store(&round_dir, &probe, Some(&k));
                        rekey_opens(&probe, None, &blobs)
                    });
                    // The store as the kill left it opens (rolled forward if need be).
                    assert!(rekey_opens(&round_dir, None, &blobs));
                    (old_ok, new_ok)
                }
            };
            assert!(old_ok != new_ok, "old opens: {old_ok}, new opens: {new_ok}");
            match end {
                End::Exited(s) => {
                    assert!(s.success(), "change-root-key failed without a kill");
                    assert!(new_ok);
                    finished += 1;
                }
                End::Killed if old_ok => old_won += 1,
                End::Killed => new_won += 1,
            }
        }
        println!("{passphrase:?}: killed with the old key working {old_won}, the new {new_won}; finished {finished}");
        assert!(
            old_won + new_won >= 4,
            "too few runs were killed to mean anything"
        );
    }
}
