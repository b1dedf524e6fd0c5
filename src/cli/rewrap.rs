//! `envelope rewrap`: re-keys messages in one verified pass. Each message is
//! opened with the `-u` keys and its plaintext, held only in memory, sealed
//! into a new message for the `-w`/`-k` keys (see
//! [`envelope::stream::rewrap_stream`]); the encryption context, suite and
//! frame length carry over unless changed.
//!
//! Inputs and outputs follow encrypt and decrypt (the same [`Plan`](super::plan::Plan),
//! atomic outputs, metadata lines and exit codes); an output file is renamed
//! into place only once the whole old message, signature included, verified.

use std::io::Read;

use envelope::keyring::Keyring;
use envelope::stream::{AuthenticatedHeader, DecryptOptions, RewrapOptions, StreamSummary};

use super::crypt::{
    check_required_keys, check_swallowed_input, limits, max_edks_read, parse_context, parse_suite, policy,
    run, store_detail, threads, Blame, Counted, Failed,
};
use super::error::CliError;
use super::keyrings::{keyring_from_args, KeyService, Mode};
use super::metadata::Metadata;
use super::output::{check_stdout, Output};
use super::plan::{self, Op};
use super::ui::{Progress, Ui};
use super::RewrapArgs;

pub fn run_rewrap(a: RewrapArgs, service: &mut KeyService<'_>, ui: &Ui) -> Result<(), CliError> {
    check_swallowed_input(&a.common)?;
    let ctx = parse_context(&a.common.encryption_context)?;
    let suite = parse_suite(a.algorithm.as_deref())?;
    let commitment_policy = policy(&a.common)?;
    let plan = plan::plan(&a.common, Op::Rewrap, ui)?;
    if plan.writes_stdout() {
        check_stdout(a.common.encode)?;
    }
    let mut meta = Metadata::open(&a.common, plan.writes_stdout(), "rewrap")?;
    let unwrap = keyring_from_args(&a.unwrap_key_groups, &[], Mode::Decrypt, service)?;
    let wrap = keyring_from_args(
        &a.common.wrapping_key_groups,
        &a.common.key_ids,
        Mode::Encrypt,
        service,
    )?;
    let opts = RewrapOptions {
        decrypt: DecryptOptions {
            commitment_policy,
            reproduced_encryption_context: ctx.pairs,
            max_encrypted_data_keys: Some(max_edks_read(&a.common)),
            unsigned_only: false,
            limits: limits(a.max_length, a.max_header_size),
        },
        suite,
        frame_length: a.frame_length,
        max_encrypted_data_keys: a.common.max_encrypted_data_keys,
    };
    let keys = Keys {
        unwrap: unwrap.as_ref(),
        wrap: wrap.as_ref(),
        required: &ctx.required_keys,
        threads: threads(&a.common),
    };
    let explainer = service.explainer();
    let r = run(
        &plan,
        &a.common,
        Op::Rewrap,
        ui,
        &mut meta,
        &|input, _len, name, out, progress| {
            rewrap_one(&keys, &opts, input, name, out, progress).map_err(|e| explainer.explain(e))
        },
    );
    store_detail(service, ui);
    r
}

/// The keyrings and the checks of a run.
struct Keys<'a> {
    unwrap: &'a dyn Keyring,
    wrap: &'a dyn Keyring,
    /// `-c k`: keys the old message's encryption context must have.
    required: &'a [String],
    threads: usize,
}

/// Rewraps one input into one output. The summary is the new message's
/// (its header), with the old message's bytes as the bytes in.
fn rewrap_one(
    keys: &Keys<'_>,
    opts: &RewrapOptions,
    input: &mut dyn Read,
    in_name: &str,
    out: &mut Output,
    progress: &Progress,
) -> Result<StreamSummary, CliError> {
    let out_name = out.name();
    let what = format!("rewrap {in_name}");
    let mut src = Blame::new(Counted {
        inner: input,
        progress,
    });
    let mut sink = Blame::new(&mut *out);
    let r = AuthenticatedHeader::read(keys.unwrap, &opts.decrypt, &mut src).and_then(|old| {
        if let Err(e) = check_required_keys(keys.required, old.header(), &what) {
            return Ok(Err(e));
        }
        let new_opts = opts.encrypt_options(old.header());
        old.rewrap_body_to(keys.wrap, &new_opts, &mut sink, keys.threads)
            .map(Ok)
    });
    let summary = Failed {
        what,
        input: (src.failed, in_name),
        output: (sink.failed, &out_name),
    }
    .check(r)??;
    Ok(StreamSummary {
        header: summary.new.header,
        bytes_in: summary.old.bytes_in,
        bytes_out: summary.new.bytes_out,
    })
}
