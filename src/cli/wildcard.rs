//! Wildcards in `-i` that the shell left alone (`-i "logs/*.txt"`, or an
//! `@FILE` argument), expanded as aws-encryption-cli expands them with
//! Python's `glob.glob`: `*`, `?` and `[...]` (`[!...]` negates) within one
//! path component, and names starting with `.` only by a pattern that does.
//! A path that names an existing file is never treated as a pattern.

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::error::CliError;

/// Every path of `given` with its wildcards expanded, in order (the matches
/// of one pattern sorted by name). A pattern that matches nothing is an error.
pub fn expand_all(given: Vec<PathBuf>) -> Result<Vec<PathBuf>, CliError> {
    let mut out = Vec::with_capacity(given.len());
    for path in given {
        let is_pattern = path.to_str().is_some_and(has_wildcard);
        if !is_pattern || fs::symlink_metadata(&path).is_ok() {
            out.push(path);
            continue;
        }
        let mut found = expand(&path);
        if found.is_empty() {
            return Err(CliError::usage(format!(
                "-i {}: no file matches this pattern",
                path.display()
            )));
        }
        found.sort();
        out.append(&mut found);
    }
    Ok(out)
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The existing paths that `pattern` matches.
fn expand(pattern: &Path) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::new()];
    for comp in pattern.components() {
        let part = comp.as_os_str();
        let wild = matches!(comp, Component::Normal(_)) && part.to_str().is_some_and(has_wildcard);
        if !wild {
            current = current.into_iter().map(|p| p.join(part)).collect();
            continue;
        }
        let Some(pat) = part.to_str() else {
            return Vec::new();
        };
        let pat: Vec<char> = pat.chars().collect();
        let mut next = Vec::new();
        for dir in &current {
            let listed = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            let Ok(entries) = fs::read_dir(listed) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if name.starts_with('.') && pat.first() != Some(&'.') {
                    continue;
                }
                if matches(&pat, &name.chars().collect::<Vec<_>>()) {
                    next.push(dir.join(name));
                }
            }
        }
        current = next;
    }
    current.retain(|p| fs::symlink_metadata(p).is_ok());
    current
}

/// Whether `name` matches the `fnmatch` pattern `pat`.
fn matches(pat: &[char], name: &[char]) -> bool {
    match pat.first() {
        None => name.is_empty(),
        Some('*') => (0..=name.len()).any(|skip| matches(&pat[1..], &name[skip..])),
        Some('?') => !name.is_empty() && matches(&pat[1..], &name[1..]),
        Some('[') => match class(&pat[1..]) {
            Some(class) => name.first().is_some_and(|c| {
                let inside = class.ranges.iter().any(|&(lo, hi)| lo <= *c && *c <= hi);
                inside != class.negated && matches(&pat[1 + class.used..], &name[1..])
            }),
            // An unclosed `[` is a literal character, as fnmatch has it.
            None => name.first() == Some(&'[') && matches(&pat[1..], &name[1..]),
        },
        Some(c) => name.first() == Some(c) && matches(&pat[1..], &name[1..]),
    }
}

/// A `[...]` character class.
struct Class {
    /// Inclusive ranges (a single character is a range of one).
    ranges: Vec<(char, char)>,
    /// `[!...]`: any character but these.
    negated: bool,
    /// The pattern characters after the `[`, up to and including the `]`.
    used: usize,
}

/// The class that starts after a `[`, if it is closed.
fn class(p: &[char]) -> Option<Class> {
    let negated = p.first() == Some(&'!');
    let mut i = usize::from(negated);
    let mut set = Vec::new();
    // A `]` first in the class is a member.
    let mut first = true;
    while i < p.len() {
        let c = p[i];
        if c == ']' && !first {
            return Some(Class {
                ranges: set,
                negated,
                used: i + 1,
            });
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            set.push((c, p[i + 2]));
            i += 3;
        } else {
            set.push((c, c));
            i += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        matches(&p.chars().collect::<Vec<_>>(), &n.chars().collect::<Vec<_>>())
    }

    #[test]
    fn patterns_match_as_fnmatch() {
        assert!(m("*.txt", "a.txt"));
        assert!(!m("*.txt", "a.txt.enc"));
        assert!(m("a?c", "abc"));
        assert!(m("[ab]1", "b1"));
        assert!(!m("[!ab]1", "b1"));
        assert!(m("[a-c]x", "cx"));
        assert!(m("[]]", "]"));
        assert!(m("[x", "[x"));
    }
}
