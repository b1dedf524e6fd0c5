//! `envelope inspect [FILE|-]`: a message's header, without any key.
//!
//! Only the header is read and parsed (with the same parser and limits as
//! decrypt). Nothing is authenticated: the header tag needs the data key, so
//! what is shown is what the message claims.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use clap::Args;
use envelope::format::{Header, Limits, Parsed};
use serde::Serialize;

use super::error::{CliError, EXIT_INTEGRITY};
use super::header_info::HeaderInfo;
use super::terminal;

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The message: a file, or - for stdin.
    #[arg(value_name = "FILE|-", default_value = "-")]
    input: PathBuf,

    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The JSON output: the header fields, and sizes.
#[derive(Serialize)]
struct Report {
    input: String,
    #[serde(flatten)]
    header: HeaderInfo,
    /// The whole message, when the input is a regular file.
    message_size: Option<u64>,
}

pub fn run(a: InspectArgs) -> Result<(), CliError> {
    let (header, name, message_size) = if a.input.as_os_str() == "-" {
        let h = read_header(&mut io::stdin().lock(), "stdin")?;
        (h, "-".to_owned(), None)
    } else {
        let name = a.input.display().to_string();
        let mut f = File::open(&a.input).map_err(|e| CliError::io(&name, e))?;
        let size = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
        (read_header(&mut f, &name)?, name, size)
    };
    let report = Report {
        input: name,
        header: HeaderInfo::new(&header),
        message_size,
    };
    let text = if a.json {
        terminal::json(&report, true).map_err(|e| CliError::io("stdout", io::Error::other(e)))?
    } else {
        text(&report)
    };
    let mut out = io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(CliError::io("stdout", e)),
        _ => Ok(()),
    }
}

/// Reads just enough of `r` to parse the header.
fn read_header(r: &mut dyn Read, name: &str) -> Result<Header, CliError> {
    let fail = |message: String| CliError::with_code(EXIT_INTEGRITY, message);
    let limits = Limits::default();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        // Parse again only once at least the bytes the parser asked for have
        // arrived, so a large header is not re-parsed for every small read.
        let need = match Header::parse(&buf, &limits) {
            Ok(Parsed::Done(h, _)) => return Ok(h),
            Ok(Parsed::Incomplete(n)) => buf.len() + n,
            Err(e) => return Err(fail(format!("{name}: not an AWS Encryption SDK message: {e}"))),
        };
        while buf.len() < need {
            let n = loop {
                match r.read(&mut chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other.map_err(|e| CliError::io(name, e))?,
                }
            };
            if n == 0 {
                return Err(fail(if buf.is_empty() {
                    format!("{name}: the input is empty, not an AWS Encryption SDK message")
                } else {
                    format!(
                        "{name}: message truncated: the input ends inside the header, after {} bytes",
                        buf.len()
                    )
                }));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn text(r: &Report) -> String {
    let h = &r.header;
    let mut lines = vec![
        format!("input:              {}", r.input),
        format!("format version:     {}", h.format_version),
        format!("suite:              {} {}", h.suite_id, h.suite_name),
        format!("signed:             {}", if h.signed { "yes" } else { "no" }),
        format!("key commitment:     {}", if h.committing { "yes" } else { "no" }),
        format!("message id:         {}", h.message_id),
        format!("content type:       {}", h.content_type),
        format!("frame length:       {}", h.frame_length),
    ];
    if h.encryption_context.is_empty() {
        lines.push("encryption context: (empty)".into());
    } else {
        lines.push("encryption context:".into());
        lines.extend(h.encryption_context.iter().map(|(k, v)| format!("  {k} = {v}")));
    }
    lines.push(format!("encrypted data keys: {}", h.encrypted_data_keys.len()));
    lines.extend(
        h.encrypted_data_keys
            .iter()
            .map(|e| format!("  {}", e.one_line())),
    );
    lines.push(format!("header size:        {} bytes", h.header_size));
    if let Some(n) = r.message_size {
        lines.push(format!("message size:       {n} bytes"));
    }
    // Every field is what the message claims, unauthenticated: escaped.
    lines
        .iter()
        .map(|l| terminal::escaped(l))
        .collect::<Vec<_>>()
        .join("\n")
}
