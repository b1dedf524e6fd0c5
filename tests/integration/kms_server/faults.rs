//! Faults: SIGKILL under load, and several servers and the CLI on one store.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::support::{call, key_works, list_key_ids, ok, Proc, Store};

/// Runs CreateKey and RotateKeyOnDemand on `threads` threads until `stop`,
/// recording every key whose CreateKey returned 200.
fn load(
    addr: std::net::SocketAddr,
    threads: usize,
    stop: Arc<AtomicBool>,
    created: Arc<Mutex<Vec<String>>>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..threads)
        .map(|_| {
            let (stop, created) = (stop.clone(), created.clone());
            std::thread::spawn(move || {
                let mut mine: Vec<String> = Vec::new();
                // Bounded in count as well as time: at most 400 keys per worker and round.
                while !stop.load(Ordering::Relaxed) && mine.len() < 400 {
                    let Ok(r) = super::support::raw(addr, &super::support::request_bytes("CreateKey", b"{}"))
                    else {
                        break;
                    };
                    if r.status == 200 {
                        let id = r.json()["KeyMetadata"]["KeyId"].as_str().unwrap().to_owned();
                        created.lock().unwrap().push(id.clone());
                        mine.push(id);
                    }
                    if let Some(k) = mine.last() {
                        let body = json!({"KeyId": k}).to_string();
                        if super::support::raw(
                            addr,
                            &super::support::request_bytes("RotateKeyOnDemand", body.as_bytes()),
                        )
                        .is_err()
                        {
                            break;
                        }
                    }
                }
            })
        })
        .collect()
}

#[test]
fn sigkill_under_load_loses_no_acknowledged_key() {
    let store = Store::new();
    let created = Arc::new(Mutex::new(Vec::new()));
    let mut rng_state = std::process::id() as u64 ^ 0x9e37_79b9_7f4a_7c15;
    for round in 0..4 {
        let server = Proc::start(&store.dir(), &[]);
        // The store opens after every kill, and every acknowledged key so far is there.
        for k in created.lock().unwrap().iter() {
            let r = call(server.addr, "DescribeKey", &json!({"KeyId": k}));
            assert_eq!(
                r.status,
                200,
                "round {round}: key {k} is lost: {}",
                String::from_utf8_lossy(&r.body)
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let workers = load(server.addr, 3, stop.clone(), created.clone());
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        std::thread::sleep(Duration::from_millis(150 + rng_state % 500));
        server.signal("KILL");
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        drop(server);
    }
    let server = Proc::start(&store.dir(), &[]);
    let keys = created.lock().unwrap().clone();
    assert!(
        keys.len() >= 8,
        "only {} keys were created under load",
        keys.len()
    );
    for k in &keys {
        key_works(server.addr, k);
    }
    // On a fast machine the load makes more than one ListKeys page of keys.
    let listed: BTreeSet<String> = list_key_ids(server.addr).into_iter().collect();
    assert!(keys.iter().all(|k| listed.contains(k)));
    eprintln!("{} acknowledged keys survived 4 SIGKILLs", keys.len());
}

#[test]
fn two_servers_and_the_cli_share_one_store() {
    let store = Store::new();
    let a = Proc::start(&store.dir(), &[]);
    let b = Proc::start(&store.dir(), &[]);
    let key = ok(a.addr, "CreateKey", &json!({}))["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(
        b.addr,
        "CreateAlias",
        &json!({"AliasName": "alias/shared", "TargetKeyId": key}),
    );
    let out = store.cli(&["kms", "describe-key", "--key-id", "alias/shared"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&key));
    // Writes from all three at once: every one succeeds (SQLite's write lock
    // serialises them; busy waits are absorbed by the busy timeout).
    let deadline = Instant::now() + Duration::from_secs(3);
    let servers: Vec<_> = [a.addr, b.addr]
        .into_iter()
        .map(|addr| {
            let key = key.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                // Bounded in count as well as time.
                while Instant::now() < deadline && n < 300 {
                    ok(addr, "CreateKey", &json!({}));
                    key_works(addr, &key);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut cli_keys = 0;
    while Instant::now() < deadline && cli_keys < 100 {
        let out = store.cli(&["-q", "kms", "create-key"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        cli_keys += 1;
    }
    let served: usize = servers.into_iter().map(|t| t.join().unwrap()).sum();
    let listed = list_key_ids(a.addr).len();
    assert_eq!(listed, 1 + served + cli_keys);
    // A blob made through one server opens through the other and the CLI.
    let e = ok(
        a.addr,
        "Encrypt",
        &json!({"KeyId": "alias/shared", "Plaintext": super::support::b64(b"hi")}),
    );
    let d = ok(b.addr, "Decrypt", &json!({"CiphertextBlob": e["CiphertextBlob"]}));
    assert_eq!(super::support::unb64(&d["Plaintext"]), b"hi");
    let blob = e["CiphertextBlob"].as_str().unwrap();
    let out = store.cli(&["kms", "decrypt", "--ciphertext-blob", blob]);
    assert!(out.status.success());
    a.signal("TERM");
    b.signal("TERM");
    assert!(a.wait().success() && b.wait().success());
}
