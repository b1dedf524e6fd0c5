//! `--metadata-output FILE|-`: one JSON line per processed file.
//!
//! Two layouts (`--metadata-layout`). `envelope`'s lines carry what the
//! header says (suite, message id, encryption context, the data-key
//! providers) and the byte counts, and failures get a line too, with
//! `"status": "failed"` and the error. `aws-encryption-cli`'s are that tool's
//! records, field for field ([`super::metadata_aws`]). Neither carries key
//! material. The file is appended to (so that successive runs build one log)
//! unless `--overwrite-metadata`, and created readable by its owner only.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};

use envelope::stream::StreamSummary;
use serde::Serialize;

use super::error::CliError;
use super::header_info::HeaderInfo;
use super::metadata_aws;
use super::plan::Op;
use super::plan::{Dest, Job, Source};
use super::CommonArgs;

/// Where metadata lines go, if anywhere.
pub struct Metadata {
    out: Option<Box<dyn Write>>,
    name: String,
    /// The aws-encryption-cli layout, with its name of the mode.
    aws_mode: Option<&'static str>,
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
    /// Opens `--metadata-output` (`-` is stdout). It may not be stdout when
    /// the data goes there (`writes_stdout`); that it is none of the plan's
    /// inputs or outputs was checked with the plan. `aws_mode` is how
    /// aws-encryption-cli names the run's mode (`decrypt-unsigned`, ...).
    pub fn open(
        common: &CommonArgs,
        writes_stdout: bool,
        aws_mode: &'static str,
    ) -> Result<Metadata, CliError> {
        let aws_mode = (common.metadata_layout == "aws-encryption-cli").then_some(aws_mode);
        let Some(path) = common.metadata_output.as_deref() else {
            return Ok(Metadata {
                out: None,
                name: String::new(),
                aws_mode,
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
                aws_mode,
            });
        }
        let name = path.display().to_string();
        let mut options = OpenOptions::new();
        options.create(true);
        if common.overwrite_metadata {
            options.write(true).truncate(true);
        } else {
            options.append(true);
        }
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let f: File = options
            .open(path)
            .map_err(|e| CliError::io(format!("metadata output {name}"), e))?;
        Ok(Metadata {
            out: Some(Box::new(f)),
            name,
            aws_mode,
        })
    }

    /// Records a file processed successfully.
    pub fn ok(&mut self, mode: Op, job: &Job, s: &StreamSummary) -> Result<(), CliError> {
        if self.out.is_none() {
            // Nothing to write: not even the line is made.
            return Ok(());
        }
        if let Some(aws_mode) = self.aws_mode {
            let line = metadata_aws::record(aws_mode, job, &s.header);
            return self.write_text(line);
        }
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
        if self.aws_mode.is_some() {
            // aws-encryption-cli records only the files it wrote.
            return Ok(());
        }
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
        let text =
            super::terminal::json(line, false).map_err(|e| CliError::io(&self.name, io::Error::other(e)))?;
        self.write_text(text)
    }

    fn write_text(&mut self, mut text: String) -> Result<(), CliError> {
        let Some(out) = &mut self.out else {
            return Ok(());
        };
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
