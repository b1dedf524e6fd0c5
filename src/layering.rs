//! The layering the guide promises, checked on every `cargo test`.
//!
//! Each library file under `src/` is read, comments and string literals are
//! set aside, and every path that leaves its top-level module is noted: a
//! `crate::X` path (also inside `use crate::{..}` groups), or a chain of
//! `super::` that climbs to the crate root. [`LAYERS`] says which modules
//! each top-level module may name; anything else fails, and so does a module
//! of `lib.rs` that the table does not list, a `crate::` path that names one
//! of the root's re-exports instead of the module that owns the item, and a
//! file outside `src/crypto/` (the binary's included) that names a
//! cryptography backend. The table itself must be free of cycles and must
//! allow none of [`NEVER`], so that a cycle between modules cannot come back
//! either.
//!
//! A new module (a server front, a remote key service, async adapters) is a
//! new row: what it stands on, and nothing above it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Each top-level module of the library and the top-level modules it may use.
const LAYERS: &[(&str, &[&str])] = &[
    // The ground: pure data, names nothing.
    ("suite", &[]),
    // The one door to aws-lc-rs, on the ground vocabulary only.
    ("crypto", &["suite"]),
    // The KMS core stands beside the others, on crypto alone.
    ("kms", &["crypto"]),
    // The library error wraps the errors of crypto and kms.
    ("error", &["suite", "crypto", "kms"]),
    // The pure codec: data and bytes, no cryptography.
    ("format", &["suite", "error"]),
    ("keyring", &["suite", "error", "format", "crypto", "kms"]),
    // The engine with its std::io adapters and, behind the `tokio` feature,
    // its tokio adapters (`src/stream/tokio/`): the same row, so the async
    // front may use no more than the engine does (no kms, no cli).
    ("stream", &["suite", "error", "format", "crypto", "keyring"]),
    // The KMS core on the AWS KMS wire protocol: a front, on kms and crypto
    // (SigV4's HMAC, the TLS provider, request ids).
    ("server", &["kms", "crypto"]),
    // A remote key service behind the same trait (feature `remote`): the
    // kms layer's types and the trait, translated to the AWS SDK's; the
    // crypto layer only for `Secret`. Beside kms, never above the engine.
    ("remote_kms", &["kms", "crypto"]),
    // Re-exports of codec and engine internals for the fuzz targets and the
    // tests: above the engine, so it may name what the engine stands on.
    ("internal", &["error", "format", "keyring", "stream"]),
    // This test.
    ("layering", &[]),
];

/// Crossings the guide forbids outright (`cli` is the command-line front).
const NEVER: &[(&str, &[&str])] = &[
    ("format", &["crypto", "keyring", "kms", "stream", "cli"]),
    ("crypto", &["format", "keyring", "kms", "stream", "cli"]),
    ("kms", &["format", "keyring", "stream", "cli"]),
    ("keyring", &["stream", "cli"]),
    ("stream", &["cli"]),
    ("server", &["cli"]),
    ("remote_kms", &["format", "keyring", "stream", "server", "cli"]),
];

/// Crates only `src/crypto/` may name.
const CRYPTO_BACKENDS: &[&str] = &["aws_lc_rs", "argon2"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    PathSep,
    Punct(char),
}

/// Splits Rust source into identifiers, `::` and punctuation, dropping
/// comments, string and character literals and lifetimes.
fn tokens(src: &str) -> Vec<Tok> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if let Some(end) = raw_string_end(b, i) {
            i = end;
        } else if c == b'"' || (c == b'b' && b.get(i + 1) == Some(&b'"')) {
            i += if c == b'b' { 2 } else { 1 };
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == b'\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if b.get(i + 1) == Some(&b'\\') {
                i += 3;
                while i < b.len() && b[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            } else if b.get(i + 2) == Some(&b'\'') {
                i += 3;
            } else {
                i += 1;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(src[start..i].to_owned()));
        } else if c == b':' && b.get(i + 1) == Some(&b':') {
            out.push(Tok::PathSep);
            i += 2;
        } else if c.is_ascii_digit() {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
        } else {
            if !c.is_ascii_whitespace() {
                out.push(Tok::Punct(c as char));
            }
            i += 1;
        }
    }
    out
}

/// The end of a raw (byte) string literal starting at `i` (`r"..."`, `br#"..."#`).
fn raw_string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    if b.get(j) == Some(&b'b') {
        j += 1;
    }
    if b.get(j) != Some(&b'r') || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) {
        return None;
    }
    j += 1;
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    j += hashes;
    if b.get(j) != Some(&b'"') {
        return None;
    }
    j += 1;
    while j < b.len() {
        if b[j] == b'"' && b[j + 1..].iter().take(hashes).filter(|&&c| c == b'#').count() == hashes {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(b.len())
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

/// The first segment of each item of the `{..}` group starting at `toks[i]`.
fn group_heads(toks: &[Tok], mut i: usize) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut at_item_start = true;
    while i < toks.len() {
        match &toks[i] {
            Tok::Punct('{') => {
                depth += 1;
                at_item_start = depth == 1;
            }
            Tok::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Tok::Punct(',') if depth == 1 => at_item_start = true,
            Tok::Ident(s) if depth == 1 && at_item_start => {
                heads.push(s.clone());
                at_item_start = false;
            }
            _ => {}
        }
        i += 1;
    }
    heads
}

/// The top-level modules (or root items) that the code of `file_module`
/// (its module path, e.g. `["format", "body"]`) names through `crate::` or
/// root-climbing `super::` paths.
fn crate_paths(src: &str, file_module: &[&str]) -> BTreeSet<String> {
    let toks = tokens(src);
    let mut named = BTreeSet::new();
    // Inline modules (`mod tests { .. }`) deepen the module path.
    let mut path: Vec<String> = file_module.iter().map(|s| s.to_string()).collect();
    let mut inline: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i] {
            Tok::Punct('{') => depth += 1,
            Tok::Punct('}') => {
                depth = depth.saturating_sub(1);
                if inline.last() == Some(&depth) {
                    inline.pop();
                    path.pop();
                }
            }
            Tok::Ident(m) if m == "mod" => {
                if let (Some(name), Some(Tok::Punct('{'))) = (ident(toks.get(i + 1)), toks.get(i + 2)) {
                    path.push(name.to_owned());
                    inline.push(depth);
                    depth += 1;
                    i += 3;
                    continue;
                }
            }
            Tok::Ident(k) if (k == "crate" || k == "super") && toks.get(i + 1) == Some(&Tok::PathSep) => {
                // A `crate::` path, or a `super::` chain: where does it land?
                let mut j = i;
                let mut ups = 0;
                let at_root = if k == "crate" {
                    j += 2;
                    true
                } else {
                    while ident(toks.get(j)) == Some("super") && toks.get(j + 1) == Some(&Tok::PathSep) {
                        ups += 1;
                        j += 2;
                    }
                    ups >= path.len()
                };
                // A `super::` chain that stays inside the module names nothing new;
                // one token before `crate` being `::` means another crate's path.
                let preceded_by_sep = i > 0 && toks[i - 1] == Tok::PathSep;
                if at_root && !preceded_by_sep {
                    match toks.get(j) {
                        Some(Tok::Ident(s)) => {
                            named.insert(s.clone());
                        }
                        Some(Tok::Punct('{')) => named.extend(group_heads(&toks, j)),
                        _ => {}
                    }
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    named
}

/// Whether `src` names one of the cryptography backends as a path or import.
fn backends_named(src: &str) -> Vec<&'static str> {
    let toks = tokens(src);
    CRYPTO_BACKENDS
        .iter()
        .copied()
        .filter(|b| {
            toks.windows(2).any(|w| {
                ident(Some(&w[0])) == Some(*b) && w[1] == Tok::PathSep
                    || ident(Some(&w[1])) == Some(*b) && matches!(ident(Some(&w[0])), Some("use" | "crate"))
            })
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A library file's module path: `src/lib.rs` is `[]`, `src/a/mod.rs` and
/// `src/a.rs` are `["a"]`, `src/a/b.rs` is `["a", "b"]`; `None` for the binary.
fn module_path(rel: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = rel.iter().map(|c| c.to_string_lossy().into_owned()).collect();
    if parts == ["main.rs"] || parts.first().is_some_and(|p| p == "cli") {
        return None;
    }
    let last = parts.pop()?;
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    Some(parts)
}

/// Every violation of the rules in the sources `files` (path relative to
/// `src/`, contents), as one line each.
fn violations(files: &[(PathBuf, String)]) -> Vec<String> {
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    let mut found = Vec::new();
    for (rel, src) in files {
        let shown = Path::new("src").join(rel).display().to_string();
        if !rel.starts_with("crypto") {
            for b in backends_named(src) {
                found.push(format!(
                    "{shown}: names `{b}`; only src/crypto/ may use a cryptography backend"
                ));
            }
        }
        let Some(module) = module_path(rel) else {
            continue;
        };
        let parts: Vec<&str> = module.iter().map(String::as_str).collect();
        let Some(top) = parts.first().copied() else {
            // lib.rs: every module it declares must have a row.
            let toks = tokens(src);
            for w in toks.windows(3) {
                if let (Some("mod"), Some(name), Tok::Punct(';' | '{')) =
                    (ident(Some(&w[0])), ident(Some(&w[1])), &w[2])
                {
                    if !layers.contains_key(name) {
                        found.push(format!(
                            "{shown}: module `{name}` has no row in the layering table (src/layering.rs)"
                        ));
                    }
                }
            }
            continue;
        };
        let Some(allowed) = layers.get(top) else {
            found.push(format!(
                "{shown}: module `{top}` has no row in the layering table (src/layering.rs)"
            ));
            continue;
        };
        for name in crate_paths(src, &parts) {
            if name == top || allowed.contains(&name.as_str()) {
                continue;
            }
            let never = NEVER
                .iter()
                .any(|(from, to)| *from == top && to.contains(&name.as_str()));
            let why = if never {
                "a crossing the guide forbids".to_owned()
            } else if layers.contains_key(name.as_str()) {
                format!("not among what `{top}` stands on: {allowed:?}")
            } else {
                "a re-export of the crate root; name the module that owns it".to_owned()
            };
            found.push(format!("{shown}: `{top}` names `crate::{name}`: {why}"));
        }
    }
    found
}

#[test]
fn the_sources_keep_the_layering() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut paths = Vec::new();
    rust_files(&root, &mut paths);
    paths.sort();
    let files: Vec<(PathBuf, String)> = paths
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().to_path_buf();
            (
                rel,
                fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
            )
        })
        .collect();
    assert!(
        files.len() > 30,
        "read only {} files under {}",
        files.len(),
        root.display()
    );
    let v = violations(&files);
    assert!(v.is_empty(), "the layering is broken:\n{}", v.join("\n"));
}

#[test]
fn the_table_has_no_cycle_and_allows_no_forbidden_crossing() {
    let layers: BTreeMap<&str, &[&str]> = LAYERS.iter().copied().collect();
    for (from, to) in NEVER {
        for t in *to {
            assert!(
                !layers.get(from).is_some_and(|a| a.contains(t)),
                "the table allows {from} -> {t}, which the guide forbids"
            );
        }
    }
    // Depth-first search from every module; a module met again on the current path is a cycle.
    fn visit<'a>(m: &'a str, layers: &BTreeMap<&'a str, &'a [&'a str]>, path: &mut Vec<&'a str>) {
        assert!(!path.contains(&m), "cycle in the layering table: {path:?} -> {m}");
        path.push(m);
        for d in layers.get(m).copied().unwrap_or_default() {
            assert!(layers.contains_key(d), "`{m}` may use `{d}`, which has no row");
            visit(d, layers, path);
        }
        path.pop();
    }
    for m in layers.keys() {
        visit(m, &layers, &mut Vec::new());
    }
}

#[test]
fn the_guard_sees_every_kind_of_crossing() {
    let file = |rel: &str, src: &str| (PathBuf::from(rel), src.to_owned());
    let planted = [
        file("format/body.rs", "use crate::crypto::aead::AesGcm;"),
        file(
            "format/header.rs",
            "use crate::{error::Error, stream::Encryptor};",
        ),
        file("crypto/aead.rs", "fn f() -> crate::format::Limits { todo!() }"),
        file("kms/ops.rs", "use super::super::keyring::Keyring;"),
        file(
            "keyring/multi.rs",
            "mod tests { use super::super::super::stream::decrypt; }",
        ),
        file("stream/io.rs", "use crate::Result;"),
        file("stream/tokio/writer.rs", "use crate::cli::output::Output;"),
        file("stream/tokio/jobs.rs", "fn f(k: &crate::kms::KmsCore) {}"),
        file("keyring/kms.rs", "use aws_lc_rs::rand;"),
        file("cli/keys.rs", "fn f() { argon2::Argon2::default(); }"),
        file("gateway/mod.rs", "use crate::stream;"),
        file("lib.rs", "pub mod gateway;"),
    ];
    let v = violations(&planted);
    for (needle, count) in [
        (
            "src/format/body.rs: `format` names `crate::crypto`: a crossing the guide forbids",
            1,
        ),
        ("src/format/header.rs: `format` names `crate::stream`", 1),
        ("src/format/header.rs: `format` names `crate::error`", 0),
        ("src/crypto/aead.rs: `crypto` names `crate::format`", 1),
        ("src/kms/ops.rs: `kms` names `crate::keyring`", 1),
        ("src/keyring/multi.rs: `keyring` names `crate::stream`", 1),
        ("src/stream/io.rs: `stream` names `crate::Result`: a re-export", 1),
        (
            "src/stream/tokio/writer.rs: `stream` names `crate::cli`: a crossing the guide forbids",
            1,
        ),
        (
            "src/stream/tokio/jobs.rs: `stream` names `crate::kms`: not among",
            1,
        ),
        ("src/keyring/kms.rs: names `aws_lc_rs`", 1),
        ("src/cli/keys.rs: names `argon2`", 1),
        ("src/gateway/mod.rs: module `gateway` has no row", 1),
        ("src/lib.rs: module `gateway` has no row", 1),
    ] {
        let n = v.iter().filter(|l| l.starts_with(needle)).count();
        assert_eq!(n, count, "{needle}\nin:\n{}", v.join("\n"));
    }
    assert_eq!(v.len(), 12, "{}", v.join("\n"));

    // What looks like a crossing but is not one.
    let clean = [
        file(
            "format/body.rs",
            "// use crate::crypto::Secret;\n/* crate::kms /* nested */ crate::stream */\n\
             const S: &str = \"crate::keyring::Keyring\"; const R: &str = r#\"use crate::stream\"#;\n\
             const C: char = '\"'; fn f<'a>(x: &'a str) -> &'a str { x }\n\
             use super::{finish, Cursor}; use self::inner::X; mod inner { pub struct X; use super::super::suite; }",
        ),
        file("kms/blob.rs", "use uuid::Uuid; // aws_lc_rs::hmac was here"),
        file("crypto/hkdf.rs", "use aws_lc_rs::hkdf;"),
    ];
    let v = violations(&clean);
    assert!(v.is_empty(), "{}", v.join("\n"));
}
