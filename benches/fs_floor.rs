//! What envelope's durability promise costs by itself, for a tree of small
//! files, without any cryptography: the floor under `encrypt -r` (issue 15).
//!
//! It copies a tree of SMALL_FILES (5000) files of 1-5 KB in 50 directories
//! four ways, alternating round by round, each into a fresh directory that is
//! set aside (deleting trees between rounds makes ext4's inode allocation
//! slower for every later round):
//!
//! * `cp -r SRC DST && sync`: the yardstick of issue 15;
//! * plain: create, write and close each file, one `sync` at the end (what cp does);
//! * staged: envelope's model (src/cli/output.rs, src/cli/batch.rs): each
//!   file written under a temporary name; per batch of 1,024 files one
//!   `syncfs`, then their renames, then one more `syncfs` for the renames, so
//!   no file has its final name before its bytes are on disk (envelope does
//!   the batches on a thread of their own while the next files are written;
//!   this does them in line);
//! * tmpfile: the same promise with `O_TMPFILE` and `linkat` (nameless files
//!   linked in once synced: one directory update per file instead of two).
//!
//! `cargo bench --bench fs_floor` (ROUNDS, default 7; SMALL_FILES; WORKDIR,
//! default target/fs-floor, removed at the end). Prints medians and their
//! ratio to `cp -r && sync`. A measurement, not a test: it asserts nothing.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rustix::fs::{AtFlags, Mode, OFlags, CWD};

const BATCH: usize = 1024;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The files of the tree, by directory.
fn make_tree(root: &Path, files: usize) -> Vec<(String, Vec<String>)> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut dirs: Vec<(String, Vec<String>)> = (0..50).map(|d| (format!("d{d:02}"), Vec::new())).collect();
    for i in 0..files {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = 1000 + (x % 4001) as usize;
        let (dir, names) = &mut dirs[i % 50];
        let name = format!("f{i}");
        fs::create_dir_all(root.join(&*dir)).unwrap();
        let bytes: Vec<u8> = (0..len).map(|j| (x >> (j % 56)) as u8).collect();
        fs::write(root.join(&*dir).join(&name), bytes).unwrap();
        names.push(name);
    }
    dirs
}

/// Output files still waiting for their sync and their name.
enum Pending {
    Staged(PathBuf, PathBuf),
    Nameless(File, PathBuf),
}

fn copy_tree(mode: &str, src: &Path, dst: &Path, tree: &[(String, Vec<String>)]) {
    fs::create_dir(dst).unwrap();
    let mut pending: Vec<Pending> = Vec::with_capacity(BATCH);
    let mut fs_handle: Option<File> = None;
    let mut n = 0;
    for (dir, names) in tree {
        let out_dir = dst.join(dir);
        fs::create_dir(&out_dir).unwrap();
        for name in names {
            let bytes = fs::read(src.join(dir).join(name)).unwrap();
            let target = out_dir.join(format!("{name}.encrypted"));
            match mode {
                "plain" => {
                    File::create_new(&target).unwrap().write_all(&bytes).unwrap();
                }
                "staged" => {
                    let tmp = out_dir.join(format!(".t-{n}.tmp"));
                    File::create_new(&tmp).unwrap().write_all(&bytes).unwrap();
                    pending.push(Pending::Staged(tmp, target));
                }
                _ => {
                    let fd = rustix::fs::open(
                        &out_dir,
                        OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o600),
                    )
                    .unwrap();
                    let mut f = File::from(fd);
                    f.write_all(&bytes).unwrap();
                    pending.push(Pending::Nameless(f, target));
                }
            }
            n += 1;
            if pending.len() == BATCH {
                commit(&mut pending, &mut fs_handle, &out_dir);
            }
        }
    }
    if mode == "plain" {
        // What `sync` after cp does.
        let status = Command::new("sync").status().unwrap();
        assert!(status.success());
        return;
    }
    commit(&mut pending, &mut fs_handle, dst);
}

/// One filesystem sync for the batch, then its names, then one more sync
/// for the names.
fn commit(pending: &mut Vec<Pending>, fs_handle: &mut Option<File>, dir: &Path) {
    if pending.is_empty() {
        return;
    }
    let probe = fs_handle.get_or_insert_with(|| File::open(dir).unwrap());
    rustix::fs::syncfs(&*probe).unwrap();
    for p in pending.drain(..) {
        match p {
            Pending::Staged(tmp, target) => fs::rename(tmp, target).unwrap(),
            Pending::Nameless(f, target) => {
                let link = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&f));
                rustix::fs::linkat(CWD, link.as_str(), CWD, &target, AtFlags::SYMLINK_FOLLOW).unwrap();
            }
        }
    }
    rustix::fs::syncfs(&*probe).unwrap();
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rounds = env("ROUNDS", 7).max(1);
    let files = env("SMALL_FILES", 5000);
    let work = PathBuf::from(std::env::var("WORKDIR").unwrap_or_else(|_| "target/fs-floor".into()));
    let _ = fs::remove_dir_all(&work);
    let src = work.join("tree");
    let tree = make_tree(&src, files);
    let aside = work.join("aside");
    fs::create_dir_all(&aside).unwrap();
    let modes = ["cp -r && sync", "plain", "staged", "tmpfile"];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); modes.len()];
    let mut n = 0;
    for _ in 0..rounds {
        for (i, mode) in modes.iter().enumerate() {
            n += 1;
            let dst = aside.join(format!("r{n}"));
            let t = Instant::now();
            if i == 0 {
                let cmd = format!("cp -r '{}' '{}' && sync", src.display(), dst.display());
                let status = Command::new("sh").args(["-c", &cmd]).status().unwrap();
                assert!(status.success());
            } else {
                copy_tree(mode, &src, &dst, &tree);
            }
            times[i].push(t.elapsed());
        }
    }
    let cp = median(&mut times[0].clone());
    println!("{files} files of 1-5 KB in 50 directories, {rounds} rounds alternating, medians");
    println!("| copy | wall (s) | / cp -r && sync |");
    println!("|---|---|---|");
    for (i, mode) in modes.iter().enumerate() {
        let m = median(&mut times[i]);
        println!(
            "| {mode} | {:.3} | {:.2}x |",
            m.as_secs_f64(),
            m.as_secs_f64() / cp.as_secs_f64()
        );
    }
    let _ = fs::remove_dir_all(&work);
}
