//! Streams stdin to stdout through envelope's tokio adapters, on a tokio
//! runtime:
//!
//! ```sh
//! head -c 32 /dev/urandom > KEYFILE
//! cargo run --release --example tokio_pipe -- encrypt KEYFILE < in > out
//! cargo run --release --example tokio_pipe -- decrypt KEYFILE < out > in2
//! ```
//!
//! KEYFILE holds a 32-byte raw AES key, used as the raw AES keyring of
//! namespace `example` and key name `tokio-pipe`, so the messages are the
//! CLI's too: `envelope decrypt -w provider=raw-aes key=KEYFILE
//! namespace=example name=tokio-pipe` opens them, and `envelope encrypt`
//! with the same `-w` makes messages this decrypts. Default suite (0x0578,
//! signed) and commitment policy; 64 KiB frames.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use envelope::keyring::raw_aes::RawAesKeyring;
use envelope::stream::tokio::{decrypt_stream, encrypt_stream};
use envelope::stream::{DecryptOptions, EncryptOptions};
use tokio::io::{AsyncRead, AsyncWrite};

/// The keyring's namespace (provider id) and key name.
pub const NAMESPACE: &str = "example";
pub const KEY_NAME: &str = "tokio-pipe";

/// Encrypts or decrypts (`mode`) `input` into `output` under the key in
/// `key_file`; the error is one line for stderr.
pub async fn run<R, W>(mode: &str, key_file: &Path, input: R, output: W) -> Result<u64, String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let key = std::fs::read(key_file).map_err(|e| format!("{}: {e}", key_file.display()))?;
    if key.len() != 32 {
        return Err(format!(
            "{}: holds {} bytes; a 32-byte raw AES key is expected",
            key_file.display(),
            key.len()
        ));
    }
    let keyring = Arc::new(RawAesKeyring::new(NAMESPACE, KEY_NAME, &key).map_err(|e| e.to_string())?);
    let summary = match mode {
        "encrypt" => encrypt_stream(keyring, &EncryptOptions::default(), input, output).await,
        "decrypt" => decrypt_stream(keyring, &DecryptOptions::default(), input, output).await,
        other => return Err(format!("unknown mode '{other}': encrypt or decrypt")),
    };
    summary.map(|s| s.bytes_out).map_err(|e| format!("{mode}: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, key_file] = args.as_slice() else {
        eprintln!("usage: tokio_pipe encrypt|decrypt KEYFILE < input > output");
        return ExitCode::from(2);
    };
    match run(mode, Path::new(key_file), tokio::io::stdin(), tokio::io::stdout()).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_pipe: {e}");
            ExitCode::FAILURE
        }
    }
}
