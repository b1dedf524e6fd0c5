//! The one door from text to the terminal: every line the CLI writes on
//! stderr (errors, notes, `-v` detail) and `inspect`'s text output pass
//! through [`escaped`], and stderr lines through [`stderr_line`] too.
//!
//! Messages carry unauthenticated bytes before any key is used: encryption
//! context keys, provider ids and provider info (an `aws-kms` key ARN), file
//! names. Written raw, their control characters would drive the terminal
//! (escape sequences can retitle it, move the cursor, hide text), and a
//! message with 65,535 data keys made a 6.8 MB error line. So control and
//! other invisible characters are shown escaped (`\x1b`, `\u{202e}`), and a
//! stderr line is cut at [`MAX_LINE`] bytes with a count of what was left out.

use std::borrow::Cow;
use std::fmt::{Display, Write as _};
use std::io::Write;

/// The longest stderr line, in bytes of escaped text, before it is cut.
pub const MAX_LINE: usize = 4096;

/// Characters that draw nothing or change how others are drawn: the C0 and
/// C1 controls and DEL, and Unicode's invisible format characters (soft
/// hyphen, zero-width characters, bidirectional overrides and isolates, line
/// and paragraph separators, the byte-order mark, interlinear annotation
/// marks, tags), noncharacters and private-use characters.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{ad}' | '\u{34f}' | '\u{61c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
            | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}' | '\u{3164}' | '\u{feff}' | '\u{ffa0}'
            | '\u{fff0}'..='\u{fffb}' | '\u{fffe}' | '\u{ffff}' | '\u{e000}'..='\u{f8ff}'
            | '\u{e0000}'..='\u{e007f}' | '\u{f0000}'..='\u{10ffff}')
}

/// `s` with every hidden character escaped: `\x1b` for ASCII controls,
/// `\u{202e}` for the others. Borrowed when there is nothing to escape.
pub fn escaped(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            c if !hidden(c) => out.push(c),
            c if c.is_ascii() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

/// `prefix: msg` as one escaped line of at most [`MAX_LINE`] bytes (plus
/// the note of what was cut), ending in a newline.
pub fn line(prefix: &str, msg: impl Display) -> String {
    let text = msg.to_string();
    let shown = escaped(&text);
    let mut out = format!("{prefix}: ");
    if shown.len() <= MAX_LINE {
        out.push_str(&shown);
    } else {
        let mut cut = MAX_LINE;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        let _ = write!(out, "{}… ({} more bytes)", &shown[..cut], shown.len() - cut);
    }
    out.push('\n');
    out
}

/// Writes [`line()`] to stderr. A stderr that cannot be written is ignored:
/// there is nowhere left to report it, and the exit code still tells.
pub fn stderr_line(prefix: &str, msg: impl Display) {
    let _ = std::io::stderr().lock().write_all(line(prefix, msg).as_bytes());
}

/// `value` as pretty JSON (`pretty`) or one line, with every hidden
/// character of its strings written as a `\uXXXX` escape: the same JSON
/// value, valid JSON still, but nothing in it can drive a terminal. (serde's
/// own output escapes only the C0 controls, not DEL, C1 or the invisibles.)
pub fn json(value: &impl serde::Serialize, pretty: bool) -> serde_json::Result<String> {
    let mut out = Vec::new();
    if pretty {
        let f = Escaping(serde_json::ser::PrettyFormatter::new());
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, f))?;
    } else {
        let f = Escaping(serde_json::ser::CompactFormatter);
        value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, f))?;
    }
    // serde_json writes UTF-8 only; the fallback is never taken.
    Ok(String::from_utf8(out).unwrap_or_default())
}

/// A JSON formatter that escapes hidden characters in strings and otherwise
/// lays out as the one it wraps.
struct Escaping<F>(F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for Escaping<F> {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, fragment: &str) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices().filter(|&(_, c)| hidden(c)) {
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                write!(w, "\\u{u:04x}")?;
            }
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_invisibles_come_out_escaped() {
        assert_eq!(escaped("plain text, 'quoted' é ✓"), "plain text, 'quoted' é ✓");
        assert!(matches!(escaped("plain"), Cow::Borrowed(_)));
        assert_eq!(escaped("a\x1b[31mb\n\t\x7f"), "a\\x1b[31mb\\x0a\\x09\\x7f");
        assert_eq!(
            escaped("\u{9b}2J \u{202e}txt.exe \u{200b}"),
            "\\u{9b}2J \\u{202e}txt.exe \\u{200b}"
        );
    }

    #[test]
    fn json_escapes_what_serde_leaves_raw_and_stays_the_same_value() {
        let v = serde_json::json!({"k\u{7f}": ["\u{9b}2J", "\u{202e}x", "\u{10fffd}", "\x1b", "é"]});
        for pretty in [false, true] {
            let text = json(&v, pretty).unwrap();
            assert!(!text.chars().any(|c| c != '\n' && hidden(c)), "{text}");
            assert!(
                text.contains("\\u009b2J") && text.contains("\\udbff\\udffd"),
                "{text}"
            );
            assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), v);
        }
        assert_eq!(
            json(&v, true).unwrap().lines().count(),
            serde_json::to_string_pretty(&v).unwrap().lines().count()
        );
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_LINE);
        let l = line("envelope", &long);
        assert!(l.len() < MAX_LINE + 64, "{}", l.len());
        assert!(l.ends_with(&format!("… ({} more bytes)\n", 2 * MAX_LINE - MAX_LINE)));
        assert_eq!(line("envelope", "short"), "envelope: short\n");
        // The cut is counted on the escaped text, which never grows past the bound.
        let controls = "\x01".repeat(MAX_LINE);
        let l = line("p", &controls);
        assert!(l.len() < MAX_LINE + 64);
        assert!(!l.contains('\x01'));
    }
}
