//! The command line before clap sees it: what aws-encryption-cli users type
//! that clap has no notion of.
//!
//! - `@FILE` words are replaced by the arguments in FILE, read as
//!   aws-encryption-cli reads them (Python's argparse `fromfile_prefix_chars`
//!   with a `shlex` split of each line): words split on whitespace, `'…'` and
//!   `"…"` quote (a backslash escapes the quote or a backslash inside either),
//!   a backslash outside quotes escapes the next character, an unquoted `#`
//!   starts a comment to the end of the line, quotes do not span lines, and
//!   each word then has `~` and `$VAR`/`${VAR}` expanded. A FILE may name
//!   further `@FILE`s. clap has no argument files of its own.
//! - A mode flag (`-e`/`--encrypt`, `-d`/`--decrypt`, `--decrypt-unsigned`)
//!   where no subcommand is given becomes the subcommand.

use std::ffi::OsString;
use std::path::Path;

use super::error::CliError;

/// How deep `@FILE`s may name further `@FILE`s (a loop ends here).
const MAX_DEPTH: usize = 8;

/// The subcommands, as the first operand names them.
const SUBCOMMANDS: [&str; 7] = ["encrypt", "decrypt", "rewrap", "inspect", "keygen", "kms", "help"];

/// Global options that take a value (their value is not the subcommand).
const GLOBAL_WITH_VALUE: [&str; 5] = [
    "--keystore",
    "--kms",
    "--kms-endpoint",
    "--kms-region",
    "--kms-profile",
];

/// The process's arguments, with argument files expanded and a mode flag
/// turned into its subcommand.
pub fn rewrite(args: Vec<OsString>) -> Result<Vec<OsString>, CliError> {
    let mut expanded = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    expanded.extend(it.next());
    expand_into(it.collect(), 0, &mut expanded)?;
    Ok(mode_flag_to_subcommand(expanded))
}

fn expand_into(args: Vec<OsString>, depth: usize, out: &mut Vec<OsString>) -> Result<(), CliError> {
    for arg in args {
        let file = arg
            .to_str()
            .and_then(|s| s.strip_prefix('@'))
            .filter(|f| !f.is_empty());
        let Some(file) = file else {
            out.push(arg);
            continue;
        };
        if depth >= MAX_DEPTH {
            return Err(CliError::usage(format!(
                "@{file}: argument files nest deeper than {MAX_DEPTH} (a file that names itself?)"
            )));
        }
        let text = std::fs::read_to_string(Path::new(file))
            .map_err(|e| CliError::usage(format!("argument file @{file}: {e}")))?;
        let mut words = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let split = split_line(line)
                .map_err(|why| CliError::usage(format!("argument file @{file}, line {}: {why}", n + 1)))?;
            words.extend(split.into_iter().map(|w| OsString::from(expand_word(w.trim()))));
        }
        expand_into(words, depth + 1, out)?;
    }
    Ok(())
}

/// Splits one line as Python's `shlex` (POSIX mode, whitespace split, both
/// quote kinds escapable) does.
fn split_line(line: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word has begun (`""` is an empty word, not none).
    let mut started = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            '#' => break,
            '\\' => {
                started = true;
                match chars.next() {
                    Some(next) => word.push(next),
                    None => return Err("a backslash ends the line"),
                }
            }
            '\'' | '"' => {
                started = true;
                let quote = c;
                loop {
                    match chars.next() {
                        None => return Err("no closing quotation"),
                        Some(q) if q == quote => break,
                        Some('\\') => match chars.next() {
                            Some(next) if next == quote || next == '\\' => word.push(next),
                            Some(next) => {
                                word.push('\\');
                                word.push(next);
                            }
                            None => return Err("no closing quotation"),
                        },
                        Some(other) => word.push(other),
                    }
                }
            }
            other => {
                started = true;
                word.push(other);
            }
        }
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

/// `~` at the start (the home directory), then `$VAR` and `${VAR}` (unset
/// ones stay as written), as Python's `expanduser` and `expandvars` do.
fn expand_word(word: &str) -> String {
    // $HOME, else the user database's entry, as `expanduser` has it.
    let home = dirs::home_dir();
    let word = match (word.strip_prefix('~'), home) {
        (Some(rest), Some(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{}{rest}", home.display())
        }
        _ => word.to_owned(),
    };
    let mut out = String::with_capacity(word.len());
    let mut rest = word.as_str();
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        match std::env::var(name) {
            Ok(value) if !name.is_empty() => out.push_str(&value),
            _ => out.push_str(&rest[at..at + 1 + len]),
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// `envelope -e -i x ...` (aws-encryption-cli's form) as `envelope encrypt -i x ...`.
fn mode_flag_to_subcommand(mut args: Vec<OsString>) -> Vec<OsString> {
    let mut expects_value = false;
    let mut mode = None;
    for (i, arg) in args.iter().enumerate().skip(1) {
        let Some(a) = arg.to_str() else { return args };
        if a == "--" {
            break;
        }
        if expects_value {
            expects_value = false;
            continue;
        }
        if !a.starts_with('-') {
            if mode.is_none() && SUBCOMMANDS.contains(&a) {
                return args;
            }
            continue;
        }
        if GLOBAL_WITH_VALUE.contains(&a) {
            expects_value = true;
            continue;
        }
        let named = match a {
            "-e" | "--encrypt" => Some(["encrypt"].as_slice()),
            "-d" | "--decrypt" => Some(["decrypt"].as_slice()),
            "--decrypt-unsigned" => Some(["decrypt", "--decrypt-unsigned"].as_slice()),
            _ => None,
        };
        if let (Some(words), None) = (named, mode) {
            mode = Some((i, words));
        }
    }
    if let Some((i, words)) = mode {
        args.remove(i);
        for (n, w) in words.iter().enumerate() {
            args.insert(1 + n, OsString::from(w));
        }
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn lines_split_as_shlex_does() {
        assert_eq!(
            split_line("-i a.txt  -o 'out dir/x'").unwrap(),
            words(&["-i", "a.txt", "-o", "out dir/x"])
        );
        assert_eq!(
            split_line(r#"-c "k=a \"b\"" x\ y"#).unwrap(),
            words(&["-c", "k=a \"b\"", "x y"])
        );
        assert_eq!(split_line(r#"'a\b' "c\d""#).unwrap(), words(&[r"a\b", r"c\d"]));
        assert_eq!(split_line("-v # a comment").unwrap(), words(&["-v"]));
        assert_eq!(split_line("# only a comment").unwrap(), Vec::<String>::new());
        assert_eq!(split_line("a'b'\"c\" ''").unwrap(), words(&["abc", ""]));
        assert!(split_line("'open").is_err());
    }

    #[test]
    fn mode_flags_become_subcommands() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            mode_flag_to_subcommand(os(&["envelope", "-i", "x", "-e", "-o", "y"])),
            os(&["envelope", "encrypt", "-i", "x", "-o", "y"])
        );
        assert_eq!(
            mode_flag_to_subcommand(os(&["envelope", "--keystore", "kms", "--decrypt-unsigned"])),
            os(&["envelope", "decrypt", "--decrypt-unsigned", "--keystore", "kms"])
        );
        let given = os(&["envelope", "decrypt", "-i", "x"]);
        assert_eq!(mode_flag_to_subcommand(given.clone()), given);
    }
}
