//! `--metadata-output FILE|-`: one JSON line per processed file.
//!
//! Lines carry what the header says (suite, message id, encryption context,
//! the data-key providers) and the byte counts; never key material. The file
//! is appended to, so that successive runs build one log; failures get a line
//! too, with `"status": "failed"` and the error.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use envelope::stream::StreamSummary;
use serde::Serialize;

use super::error::CliError;
use super::header_info::HeaderInfo;
use super::plan::Op;
use super::plan::{Dest, Job, Source};

/// Where metadata lines go, if anywhere.
pub struct Metadata {
    out: Option<Box<dyn Write>>,
    name: String,
}

#[derive(Serialize)]
struct Line<'a> {
    mode: &'static str,
    input: String,
    /// `None` when nothing was written.
    output: Option<String>,
    status: &'static str,
    #[serde(flatten)]
    header: Option<HeaderInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_in: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_out: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<u8>,
}

impl Metadata {
    /// Opens `path` (`-` is stdout) for appending. It may not be stdout when the
    /// data goes there (`writes_stdout`); that it is none of the plan's inputs
    /// or outputs was checked with the plan.
    pub fn open(path: Option<&Path>, writes_stdout: bool) -> Result<Metadata, CliError> {
        let Some(path) = path else {
            return Ok(Metadata {
                out: None,
                name: String::new(),
            });
        };
        if path.as_os_str() == "-" {
            if writes_stdout {
                return Err(CliError::usage(
                    "--metadata-output -: stdout already carries the data; give a file",
                ));
            }
            return Ok(Metadata {
                out: Some(Box::new(io::stdout())),
                name: "stdout".into(),
            });
        }
        let name = path.display().to_string();
        let f: File = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| CliError::io(format!("metadata output {name}"), e))?;
        Ok(Metadata {
            out: Some(Box::new(f)),
            name,
        })
    }

    /// Records a file processed successfully.
    pub fn ok(&mut self, mode: Op, job: &Job, s: &StreamSummary) -> Result<(), CliError> {
        self.write(&Line {
            mode: mode.name(),
            input: input(job),
            output: Some(output(job)),
            status: "ok",
            header: Some(HeaderInfo::new(&s.header)),
            bytes_in: Some(s.bytes_in),
            bytes_out: Some(s.bytes_out),
            error: None,
            exit_code: None,
        })
    }

    /// Records a file that failed (its output was not written).
    pub fn failed(&mut self, mode: Op, job: &Job, e: &CliError) -> Result<(), CliError> {
        self.write(&Line {
            mode: mode.name(),
            input: input(job),
            output: None,
            status: "failed",
            header: None,
            bytes_in: None,
            bytes_out: None,
            error: Some(&e.message),
            exit_code: Some(e.code),
        })
    }

    fn write(&mut self, line: &Line<'_>) -> Result<(), CliError> {
        let Some(out) = &mut self.out else {
            return Ok(());
        };
        let mut text =
            super::terminal::json(line, false).map_err(|e| CliError::io(&self.name, io::Error::other(e)))?;
        text.push('\n');
        out.write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .map_err(|e| CliError::io(format!("metadata output {}", self.name), e))
    }
}

fn input(job: &Job) -> String {
    match &job.source {
        Source::Stdin => "-".into(),
        Source::File(p) => p.display().to_string(),
    }
}

fn output(job: &Job) -> String {
    match &job.dest {
        Dest::Stdout => "-".into(),
        Dest::File(p) => p.display().to_string(),
    }
}
