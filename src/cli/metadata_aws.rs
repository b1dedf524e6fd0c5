//! aws-encryption-cli's metadata records (`--metadata-layout aws-encryption-cli`),
//! so that scripts written for it read envelope's unchanged.
//!
//! Its record is `{"header": {...}, "input": ..., "mode": ..., "output": ...}`,
//! plus `"header_auth": {"iv": ..., "tag": ...}` on decrypt. The header is the
//! Python ESDK's `MessageHeader` as aws-encryption-cli serialises it: bytes in
//! base64, `version` as `"1.0"`/`"2.0"`, `algorithm` as the Python enum's
//! name, `content_type` and `type` as their numbers, the fields a format
//! version lacks as `null`, and the data keys sorted by provider id and key
//! info. Paths are absolute, stdin and stdout are `<stdin>` and `<stdout>`.
//! The line is written as Python's `json.dumps(..., sort_keys=True)` writes
//! it: `", "` and `": "` separators, non-ASCII characters escaped.

use std::path::{Component, Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use envelope::format::{ContentType, Header};
use serde_json::{json, Value};

use super::plan::{Dest, Job, Source};

/// The message type of every format-version-1 message (`ObjectType.CUSTOMER_AE_DATA`).
const CUSTOMER_AE_DATA: u8 = 0x80;

/// One record, as a line of text without its line break.
pub fn record(mode: &str, job: &Job, h: &Header) -> String {
    let mut record = json!({
        "mode": mode,
        "input": match &job.source {
            Source::Stdin => "<stdin>".to_owned(),
            Source::File(p) => absolute(p),
        },
        "output": match &job.dest {
            Dest::Stdout => "<stdout>".to_owned(),
            Dest::File(p) => absolute(p),
        },
        "header": header(h),
    });
    if mode != "encrypt" {
        record["header_auth"] = json!({"iv": b64(&h.auth_iv), "tag": b64(&h.auth_tag)});
    }
    python_json(&record)
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

fn header(h: &Header) -> Value {
    let v1 = h.suite.message_format_version == 1;
    let mut keys: Vec<_> = h.encrypted_data_keys.iter().collect();
    keys.sort_by(|a, b| {
        (a.provider_id.as_bytes(), &a.provider_info).cmp(&(b.provider_id.as_bytes(), &b.provider_info))
    });
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "key_provider": {"provider_id": b64(k.provider_id.as_bytes()), "key_info": b64(&k.provider_info)},
                "encrypted_data_key": b64(&k.ciphertext),
            })
        })
        .collect();
    json!({
        "version": if v1 { "1.0" } else { "2.0" },
        "type": v1.then_some(CUSTOMER_AE_DATA),
        "algorithm": python_name(h.suite.name),
        "message_id": b64(&h.message_id),
        "encryption_context": h.encryption_context,
        "encrypted_data_keys": keys,
        "content_type": match h.content_type {
            ContentType::NonFramed => 1,
            ContentType::Framed => 2,
        },
        "header_iv_length": v1.then_some(h.auth_iv.len()),
        "frame_length": h.frame_length,
        "commitment_key": h.commitment.as_ref().map(|c| b64(c)),
    })
}

/// The Python ESDK's name of a suite: the ESDK's, without the `_NO_KDF` of
/// the three suites that derive no key.
fn python_name(name: &str) -> &str {
    name.strip_suffix("_NO_KDF").unwrap_or(name)
}

/// `p` absolute and with `.` and `..` resolved in the text, as Python's
/// `os.path.abspath` makes it (links are not followed).
fn absolute(p: &Path) -> String {
    let joined = std::env::current_dir().map_or_else(|_| p.to_path_buf(), |cwd| cwd.join(p));
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.display().to_string()
}

/// `value` as Python's `json.dumps(value, sort_keys=True)` writes it.
fn python_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(k, out);
                out.push_str(": ");
                write_value(v, out);
            }
            out.push('}');
        }
    }
}

/// A JSON string with Python's `ensure_ascii` escaping.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_python_writes_them() {
        let v = json!({"b": [1, null], "a": "é\u{1F600}\"\u{7f}"});
        assert_eq!(
            python_json(&v),
            r#"{"a": "\u00e9\ud83d\ude00\"\u007f", "b": [1, null]}"#
        );
        assert_eq!(
            python_name("AES_128_GCM_IV12_TAG16_NO_KDF"),
            "AES_128_GCM_IV12_TAG16"
        );
    }
}
