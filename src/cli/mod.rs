//! Command-line front end: argument parsing, exit codes, and the subcommands.

mod argv;
mod base64io;
mod batch;
mod caching;
mod crypt;
mod ecdh;
mod error;
mod header_info;
mod held;
mod inspect;
mod interrupt;
mod key_files;
mod keygen;
mod keyrings;
mod kms;
mod kms_source;
mod metadata;
mod metadata_aws;
mod output;
mod pipes;
mod plan;
mod rewrap;
mod root_key;
#[cfg(feature = "server")]
mod serve;
mod stale;
mod store;
mod terminal;
mod ui;
mod wildcard;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use error::EXIT_CODES_HELP;

/// Envelope encryption in the AWS Encryption SDK message format.
///
/// aws-encryption-cli's forms work too: `envelope -e ...` and `envelope -d ...` (or
/// `--decrypt-unsigned`) for the subcommands, and `@FILE` for arguments read from FILE
/// (split as a shell does, `#` comments, `~` and `$VAR` expanded).
#[derive(Parser, Debug)]
#[command(name = "envelope", version, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Key-store directory of the embedded KMS core (else $ENVELOPE_HOME, else the user data directory).
    /// Created only by runs that make a key (encrypt with the default key, kms create-key, kms serve).
    #[arg(long, global = true, value_name = "DIR", help_heading = GLOBAL_HEADING)]
    keystore: Option<PathBuf>,

    /// Print nothing but errors: no notes, no progress bar.
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL_HEADING)]
    quiet: bool,

    /// Say more: one line per file, the keys that wrap each data key (-vv: the header too).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL_HEADING)]
    verbose: u8,

    #[command(flatten, next_help_heading = GLOBAL_HEADING)]
    kms_source: kms_source::SourceArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Encrypt into an AWS Encryption SDK message.
    #[command(after_help = EXIT_CODES_HELP)]
    Encrypt(EncryptArgs),
    /// Decrypt an AWS Encryption SDK message.
    #[command(after_help = EXIT_CODES_HELP)]
    Decrypt(DecryptArgs),
    /// Re-key messages in one verified pass: open with -u keys, encrypt again for -w/-k keys.
    #[command(after_help = EXIT_CODES_HELP)]
    Rewrap(RewrapArgs),
    /// Show a message's header (suite, message id, encryption context, data keys) without any key.
    #[command(after_help = EXIT_CODES_HELP)]
    Inspect(inspect::InspectArgs),
    /// Make a key pair for a raw keyring (`keygen ecdh --curve p256 -o PREFIX`).
    Keygen {
        #[command(subcommand)]
        kind: keygen::KeygenCommand,
    },
    /// Run a KMS operation (AWS KMS API, kebab-case names) on the embedded KMS core, or on a
    /// remote service with --kms aws or --kms-endpoint URL.
    #[command(after_help = EXIT_CODES_HELP)]
    Kms {
        #[command(subcommand)]
        op: kms::KmsCommand,
    },
}

/// Options shared by encrypt and decrypt.
#[derive(Args, Debug)]
struct CommonArgs {
    /// Input: a file, a directory (with -r), or - for stdin (the default). Takes several
    /// paths (`-i *.log`) and may be repeated.
    /// A path with `*`, `?` or `[...]` that names no file is expanded here (quoted wildcards,
    /// as aws-encryption-cli expands them: `-i "logs/*.txt"`).
    #[arg(short, long, value_name = "PATH", num_args = 1.., action = clap::ArgAction::Append)]
    input: Vec<PathBuf>,

    /// Inputs given without -i (`envelope encrypt a.txt -o a.txt.encrypted`): the same as -i.
    #[arg(value_name = "INPUT")]
    positional_inputs: Vec<PathBuf>,

    /// Output: a file, a directory (an existing one, or a path ending in /), or - for stdout
    /// (the default). Several inputs or a directory input need a directory. Missing parent
    /// directories are created.
    #[arg(short, long, value_name = "PATH", default_value = "-")]
    output: PathBuf,

    /// Process directories given with -i, and everything below them; the tree is mirrored
    /// under the output directory (one directory: its contents; several: each under its name).
    #[arg(short = 'r', visible_short_alias = 'R', long)]
    recursive: bool,

    /// File-name suffix in an output directory: added on encrypt (default .encrypted); on
    /// decrypt removed where present (default .encrypted), else .decrypted is added.
    /// A bare --suffix keeps the names unchanged. On rewrap names are kept, or SUFFIX is added.
    #[arg(long, value_name = "SUFFIX", num_args = 0..=1, default_missing_value = "")]
    suffix: Option<String>,

    /// Append one JSON line per processed file to FILE (- for stdout): mode, input, output,
    /// suite, message id, encryption context, data-key providers, bytes in and out.
    /// The file is created readable by its owner only (0600).
    #[arg(long, value_name = "FILE")]
    metadata_output: Option<PathBuf>,

    /// The layout of --metadata-output lines: `envelope` (flat, hex message id, byte counts,
    /// failed files too) or `aws-encryption-cli` (its nested `header` with base64 values and,
    /// on decrypt, `header_auth`; one line per file written).
    #[arg(long, value_name = "LAYOUT", default_value = "envelope",
          value_parser = ["envelope", "aws-encryption-cli"], requires = "metadata_output")]
    metadata_layout: String,

    /// Truncate the --metadata-output file instead of appending to it (as in aws-encryption-cli).
    #[arg(long, requires = "metadata_output")]
    overwrite_metadata: bool,

    /// Write no metadata (accepted for aws-encryption-cli, which requires it or
    /// --metadata-output; envelope writes none unless asked).
    #[arg(short = 'S', long, conflicts_with = "metadata_output")]
    suppress_metadata: bool,

    /// A wrapping key, as key=value words; repeat -w for several keys. The kinds and an example
    /// of each are in --help.
    #[arg(short = 'w', long = "wrapping-keys", value_name = "K=V", num_args = 1.., action = clap::ArgAction::Append,
          long_help = WRAPPING_KEYS_HELP)]
    wrapping_keys: Vec<String>,

    /// A KMS-core key (key id, key ARN, alias name or alias ARN); short for `-w key=ID`. Repeatable.
    #[arg(short = 'k', long = "key-id", value_name = "ID")]
    key_ids: Vec<String>,

    /// The `-w` words grouped per occurrence (clap's derive flattens them; see [`main`]).
    #[arg(skip)]
    wrapping_key_groups: Vec<Vec<String>>,

    /// Encryption context pairs k=v: several after one -c (`-c a=1 b=2`, as aws-encryption-cli
    /// takes them), and -c may be repeated. On decrypt each pair must match the message; a bare
    /// key requires that key to be present.
    #[arg(short = 'c', long = "encryption-context", value_name = "K=V", num_args = 1..,
          action = clap::ArgAction::Append)]
    encryption_context: Vec<String>,

    /// Commitment policy.
    #[arg(long, value_name = "POLICY", default_value = "require-encrypt-require-decrypt",
          value_parser = ["forbid-encrypt-allow-decrypt", "require-encrypt-allow-decrypt", "require-encrypt-require-decrypt"])]
    commitment_policy: String,

    /// Decrypt and rewrap: refuse messages with more encrypted data keys than N before trying
    /// any (default 32, since each one may cost a key operation; exit 2, and a larger N, up to
    /// 65535, opens such a message). Encrypt: refuse to write more than N (default: no limit; exit 2).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    max_encrypted_data_keys: Option<u16>,

    /// Overwrite existing output files.
    #[arg(short, long)]
    force: bool,

    /// Skip inputs whose output file already exists, with a note (aws-encryption-cli's
    /// --no-overwrite). Finishes an interrupted run: outputs appear under their names only
    /// once complete, so an existing one is whole. Without it an existing output is refused.
    #[arg(long, visible_alias = "no-overwrite", conflicts_with = "force")]
    skip_existing: bool,

    /// aws-encryption-cli's prompt before overwriting: refused with a hint (envelope never prompts).
    #[arg(long, hide = true)]
    interactive: bool,

    /// Base64-encode the output (as aws-encryption-cli's --encode), streaming.
    #[arg(long)]
    encode: bool,

    /// Base64-decode the input first (as aws-encryption-cli's --decode); whitespace and
    /// line breaks in it are ignored.
    #[arg(long)]
    decode: bool,

    /// Threads that seal or open frames (default: the available cores); 1 seals or opens a
    /// file's frames on one thread. A directory run has four files in flight per thread.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
}

#[derive(Args, Debug)]
struct EncryptArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// Algorithm suite: hex id (0478, 0x0578) or ESDK name. Default: 0x0578, or 0x0378 under forbid-encrypt-allow-decrypt.
    #[arg(long, value_name = "SUITE", long_help = algorithm_help())]
    algorithm: Option<String>,

    /// Plaintext bytes per frame (1 to 2147483647).
    #[arg(long, value_name = "N", default_value_t = envelope::stream::DEFAULT_FRAME_LENGTH,
          value_parser = clap::value_parser!(u32).range(1..=i32::MAX as i64))]
    frame_length: u32,

    /// Reuse data keys across files (off by default): capacity=N max_age=SECONDS
    /// [max_messages_encrypted=N] [max_bytes_encrypted=N]. See --help for the trade-off.
    #[arg(long, value_name = "WORD", num_args = 1.., long_help = caching::HELP)]
    caching: Option<Vec<String>>,
}

#[derive(Args, Debug)]
struct DecryptArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// Refuse signed messages before writing anything.
    #[arg(long)]
    decrypt_unsigned: bool,

    /// Hold all plaintext until the whole message, signature included, has verified. To stdout:
    /// up to 64 MiB in memory (wiped), the rest in an unnamed temporary file in $TMPDIR that is
    /// gone on any exit. A file output is renamed into place only once verified in any case.
    #[arg(short, long)]
    buffer: bool,

    /// The longest frame, or non-framed body, to accept in bytes (as in aws-encryption-cli).
    /// Default: any frame length, and non-framed bodies up to 64 MiB (such a body is held in
    /// memory until its tag verifies). A message over the limit is refused with exit code 2.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_length: Option<u64>,

    /// The largest message header to accept in bytes (context and encrypted data keys), for
    /// untrusted input. Default: 16 MiB. A header over the limit is refused with exit code 2.
    #[arg(long, value_name = "N", value_parser = max_header_size)]
    max_header_size: Option<usize>,
}

#[derive(Args, Debug)]
struct RewrapArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// A key that opens the messages, in the words of a -w group (`-u provider=raw-aes key=old.key
    /// namespace=NS name=NAME`, `-u key=ID`, `-u discovery=true ...`); repeatable. Without -u, the
    /// KMS core's keys by discovery, as decrypt does. -w/-k name the new keys, as on encrypt.
    #[arg(short = 'u', long = "unwrap-key", value_name = "K=V", num_args = 1.., action = clap::ArgAction::Append)]
    unwrap_keys: Vec<String>,

    /// The `-u` words grouped per occurrence (see [`main`]).
    #[arg(skip)]
    unwrap_key_groups: Vec<Vec<String>>,

    /// The new messages' suite (as on encrypt). Default: each message's own suite.
    #[arg(long, value_name = "SUITE", long_help = algorithm_help())]
    algorithm: Option<String>,

    /// The new messages' frame length. Default: each message's own (64 KiB for a non-framed one).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i32::MAX as i64))]
    frame_length: Option<u32>,

    /// The longest frame, or non-framed body, to accept in the old messages (as on decrypt).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_length: Option<u64>,

    /// The largest header to accept in the old messages (as on decrypt). Default: 16 MiB.
    #[arg(long, value_name = "N", value_parser = max_header_size)]
    max_header_size: Option<usize>,
}

/// `-w`'s `--help`: one group of words per kind of key, each with an example.
const WRAPPING_KEYS_HELP: &str = "\
A wrapping key, as key=value words. Repeat -w for several keys: the first generates the data \
key, every one wraps it. Without -w or -k, encrypt uses the KMS core's default key \
(alias/envelope-default) and decrypt finds the KMS-core key named in the message.

KMS key (any key id form; in the key store, or with --kms aws / --kms-endpoint in that service):
    key=ID [region=R] [profile=P]
    -w key=alias/backups
    -w key=1234abcd-12ab-34cd-56ef-1234567890ab region=eu-west-1 profile=prod
  region= and profile= choose the region of a non-ARN id and the AWS profile (remote services).

KMS discovery (decrypt and rewrap -u only; not mixed with -k or -w key=):
    discovery=true [discovery-partition=P discovery-account=ID...]
    -w discovery=true discovery-partition=aws discovery-account=111122223333
  The partition and the accounts go together.

Raw AES key (a file of 16, 24 or 32 bytes):
    provider=raw-aes key=FILE namespace=NS name=NAME
    -w provider=raw-aes key=aes.key namespace=backups name=aes-1

Raw RSA key (PEM or DER; PKCS#8/PKCS#1 private key, SubjectPublicKeyInfo/PKCS#1 public key):
    provider=raw-rsa key=FILE namespace=NS name=NAME padding=pkcs1|oaep-sha1|oaep-sha256|oaep-sha384|oaep-sha512
    -w provider=raw-rsa key=rsa.pem namespace=backups name=rsa-1 padding=oaep-sha256

Raw ECDH (private keys PEM PKCS#8, public keys DER or PEM SubjectPublicKeyInfo; \
`envelope keygen ecdh` makes a pair):
    provider=raw-ecdh scheme=static sender-key=PEM recipient-public-key=FILE
    -w provider=raw-ecdh scheme=static sender-key=me.pem recipient-public-key=them.pub.pem
  (decrypt: your own private key as sender-key, the other party's public key as recipient-public-key)
    provider=raw-ecdh scheme=ephemeral recipient-public-key=FILE        (encrypt only)
    -w provider=raw-ecdh scheme=ephemeral recipient-public-key=them.pub.pem
    provider=raw-ecdh scheme=discovery recipient-key=PEM                (decrypt only)
    -w provider=raw-ecdh scheme=discovery recipient-key=me.pem";

/// The heading of the options every subcommand takes.
const GLOBAL_HEADING: &str = "Global options";

/// The command line's definition, with the exit-code table under every
/// `kms <operation> --help` too (the operations are many; one place adds it).
fn command() -> clap::Command {
    Cli::command().mut_subcommand("kms", |kms| {
        let ops: Vec<String> = kms.get_subcommands().map(|op| op.get_name().to_owned()).collect();
        ops.iter().fold(kms, |kms, op| {
            kms.mut_subcommand(op, |c| c.after_help(EXIT_CODES_HELP))
        })
    })
}

/// `--algorithm`'s help: what it takes, the default, and every suite.
fn algorithm_help() -> String {
    format!(
        "Algorithm suite: hex id (0478, 0x0578) or ESDK name. Default: 0x0578, or 0x0378 under \
         forbid-encrypt-allow-decrypt. The suites:\n{}",
        crypt::suite_list("\n")
    )
}

/// Parses the command line, runs it, and maps the outcome to an exit code.
/// `--max-header-size`: a byte count of at least 1.
fn max_header_size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{s}' is not a byte count of at least 1")),
    }
}

pub fn main() -> ExitCode {
    let args = match argv::rewrite(std::env::args_os().collect()) {
        Ok(a) => a,
        Err(e) => return e.exit(),
    };
    let matches = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => return clap_exit(e),
    };
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return clap_exit(e),
    };
    if let Some((_, sub)) = matches.subcommand() {
        let groups = key_groups(sub, "wrapping_keys");
        let common = match &mut cli.command {
            Command::Encrypt(a) => Some(&mut a.common),
            Command::Decrypt(a) => Some(&mut a.common),
            Command::Rewrap(a) => {
                a.unwrap_key_groups = key_groups(sub, "unwrap_keys");
                Some(&mut a.common)
            }
            Command::Inspect(_) | Command::Keygen { .. } | Command::Kms { .. } => None,
        };
        if let Some(common) = common {
            common.wrapping_key_groups = groups;
            let mut given = std::mem::take(&mut common.input);
            given.append(&mut common.positional_inputs);
            common.input = match wildcard::expand_all(given) {
                Ok(paths) => paths,
                Err(e) => return e.exit(),
            };
        }
    }
    let ui = ui::Ui::new(cli.quiet, cli.verbose);
    if matches!(
        cli.command,
        Command::Encrypt(_) | Command::Decrypt(_) | Command::Rewrap(_)
    ) {
        interrupt::install();
    }
    let source = match kms_source::Source::resolve(&cli.kms_source) {
        Ok(s) => s,
        Err(e) => return e.exit(),
    };
    let r = match cli.command {
        Command::Encrypt(a) => crypt::encrypt(
            a,
            &mut keyrings::KeyService::new(cli.keystore.as_deref(), source, &ui),
            &ui,
        ),
        Command::Decrypt(a) => crypt::decrypt(
            a,
            &mut keyrings::KeyService::new(cli.keystore.as_deref(), source, &ui),
            &ui,
        ),
        Command::Rewrap(a) => rewrap::run_rewrap(
            a,
            &mut keyrings::KeyService::new(cli.keystore.as_deref(), source, &ui),
            &ui,
        ),
        Command::Inspect(a) => inspect::run(a),
        Command::Keygen { kind } => keygen::run(kind, &ui),
        Command::Kms { op } => {
            return kms::run(op, cli.keystore.as_deref(), &source, cli.quiet, cli.verbose > 0)
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.exit(),
    }
}

/// Help and version go out as clap writes them; errors become one
/// `envelope: ` line (exit code 2).
fn clap_exit(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind as K;
    match e.kind() {
        K::DisplayHelp | K::DisplayVersion | K::DisplayHelpOnMissingArgumentOrSubcommand => e.exit(),
        _ => error::CliError::from_clap(&e).exit(),
    }
}

/// Each `-w` (or `-u`, by `id`) occurrence's words, as one group per key.
fn key_groups(m: &ArgMatches, id: &str) -> Vec<Vec<String>> {
    match m.try_get_occurrences::<String>(id) {
        Ok(Some(occ)) => occ.map(|g| g.cloned().collect()).collect(),
        _ => Vec::new(),
    }
}
