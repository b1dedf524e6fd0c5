//! Command-line front end: argument parsing, exit codes, and the subcommands.

mod batch;
mod crypt;
mod ecdh;
mod error;
mod header_info;
mod held;
mod inspect;
mod interrupt;
mod keygen;
mod keyrings;
mod kms;
mod kms_source;
mod metadata;
mod output;
mod pipes;
mod plan;
mod rewrap;
mod root_key;
#[cfg(feature = "server")]
mod serve;
mod store;
mod terminal;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use error::EXIT_CODES_HELP;

/// Envelope encryption in the AWS Encryption SDK message format.
#[derive(Parser, Debug)]
#[command(name = "envelope", version, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Key-store directory of the embedded KMS core (else $ENVELOPE_HOME, else the user data directory).
    /// Created only by runs that make a key (encrypt with the default key, kms create-key, kms serve).
    #[arg(long, global = true, value_name = "DIR")]
    keystore: Option<PathBuf>,

    /// Print nothing but errors: no notes, no progress bar.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,

    /// Say more: one line per file, the keys that wrap each data key (-vv: the header too).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(flatten)]
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
    #[arg(short, long, value_name = "PATH", num_args = 1.., action = clap::ArgAction::Append)]
    input: Vec<PathBuf>,

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
    #[arg(long, value_name = "FILE")]
    metadata_output: Option<PathBuf>,

    /// A wrapping key, as key=value words; repeat -w for several keys (the first generates the data key).
    /// key=ID [region=R profile=P] (a KMS key, any id form: in the key store, or with --kms aws or
    /// --kms-endpoint in that service, where region= and profile= choose the region of non-ARN ids
    /// and the AWS profile) | discovery=true [discovery-partition=aws discovery-account=ID...]
    /// (decrypt; partition and accounts go together, and discovery does not mix with -k or -w key=) |
    /// provider=raw-aes key=PATH namespace=NS name=NAME |
    /// provider=raw-rsa key=FILE namespace=NS name=NAME padding=pkcs1|oaep-sha1|oaep-sha256|oaep-sha384|oaep-sha512
    /// (FILE: PEM or DER, PKCS#8/PKCS#1 private key or SubjectPublicKeyInfo/PKCS#1 public key) |
    /// provider=raw-ecdh scheme=static sender-key=PEM recipient-public-key=FILE (encrypt; decrypt with your own
    /// private key as sender-key and the other party's public key) | provider=raw-ecdh scheme=ephemeral
    /// recipient-public-key=FILE (encrypt only) | provider=raw-ecdh scheme=discovery recipient-key=PEM (decrypt only);
    /// ECDH private keys are PEM PKCS#8, public keys DER or PEM SubjectPublicKeyInfo (`envelope keygen ecdh` makes a pair).
    /// Without -w or -k, encrypt uses the KMS core's default key (alias/envelope-default)
    /// and decrypt finds the KMS-core key named in the message.
    #[arg(short = 'w', long = "wrapping-keys", value_name = "K=V", num_args = 1.., action = clap::ArgAction::Append)]
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

    /// Threads that seal or open frames (default: the available cores); 1 runs single-threaded.
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
}

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
pub fn main() -> ExitCode {
    let matches = match command().try_get_matches() {
        Ok(m) => m,
        Err(e) => return clap_exit(e),
    };
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return clap_exit(e),
    };
    if let Some((_, sub)) = matches.subcommand() {
        let groups = key_groups(sub, "wrapping_keys");
        match &mut cli.command {
            Command::Encrypt(a) => a.common.wrapping_key_groups = groups,
            Command::Decrypt(a) => a.common.wrapping_key_groups = groups,
            Command::Rewrap(a) => {
                a.common.wrapping_key_groups = groups;
                a.unwrap_key_groups = key_groups(sub, "unwrap_keys");
            }
            Command::Inspect(_) | Command::Keygen { .. } | Command::Kms { .. } => {}
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
