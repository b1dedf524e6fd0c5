//! Codec internals for the fuzz targets, the benchmarks and the tests: not
//! part of the API, hidden from the documentation, and free to change in any
//! release. Library users have no reason to name anything here.

/// The header codec.
pub mod header {
    pub use crate::format::header::{parse, serialize_body};
}

/// The encrypted-data-key list codec.
pub mod edk {
    pub use crate::format::edk::{parse_list, serialize_list};
}

/// The encryption-context codec (also the raw AES keyring's AAD).
pub mod context {
    pub use crate::format::context::{parse, serialize};
}

/// The body codec: frames, the non-framed block, the footer.
pub mod body {
    pub use crate::format::body::{
        body_aad, frame_iv, parse_footer, parse_frame_header, parse_non_framed_header, write_footer,
        BlockKind, FrameHeader, NonFramedHeader, FINAL_FRAME_HEADER_LEN, FINAL_FRAME_MARKER,
        REGULAR_FRAME_HEADER_LEN,
    };
}

pub use crate::stream::content_cipher::ContentCipher;

/// An [`Encryptor`](crate::stream::Encryptor) whose message id is given
/// rather than drawn at random, so that tests can make two encryptors (one
/// for the synchronous path, one for an adapter) that must write the same
/// bytes. A fixed message id must never be used for real messages.
pub fn encryptor_with_message_id(
    keyring: &dyn crate::keyring::Keyring,
    opts: &crate::stream::EncryptOptions,
    message_id: Vec<u8>,
) -> crate::error::Result<crate::stream::Encryptor> {
    crate::stream::encryptor_with_message_id(keyring, opts, message_id)
}

/// Messages built frame by frame under a real header and data key, for the
/// structure-aware fuzz target: frames with any sequence number, kind and
/// length, raw bytes between them, and a valid signature over whatever was
/// written. Only a decoder test has a use for a message this can make.
pub struct Forger {
    enc: crate::stream::Encryptor,
    out: Vec<u8>,
}

impl Forger {
    /// A message for `keyring` and `opts` (a framed suite, as for encryption).
    pub fn new(
        keyring: &dyn crate::keyring::Keyring,
        opts: &crate::stream::EncryptOptions,
    ) -> crate::error::Result<Self> {
        let mut enc = crate::stream::Encryptor::new(keyring, opts)?;
        let mut out = Vec::new();
        enc.forge_bytes(&[], &mut out);
        Ok(Forger { enc, out })
    }

    /// The bytes so far (the header first).
    pub fn bytes(&self) -> &[u8] {
        &self.out
    }

    /// Appends a frame sealed under the message's key.
    pub fn frame(&mut self, seq: u32, is_final: bool, content: &[u8]) -> crate::error::Result<()> {
        self.enc.forge_frame(seq, is_final, content, &mut self.out)
    }

    /// Appends raw bytes (covered by the signature like the frames).
    pub fn raw(&mut self, bytes: &[u8]) {
        self.enc.forge_bytes(bytes, &mut self.out);
    }

    /// The message, with a signature footer over everything for signing suites.
    pub fn finish(self) -> crate::error::Result<Vec<u8>> {
        let Forger { enc, mut out } = self;
        enc.forge_footer(&mut out)?;
        Ok(out)
    }

    /// The message without a footer.
    pub fn unsigned(self) -> Vec<u8> {
        self.out
    }
}

/// Decrypts `message` through the thread pipeline with `workers` workers and
/// batches of `batch_bytes`, from the first frame on (the public functions
/// keep the first 16 MiB on the calling thread, which a fuzz input never
/// passes): what it wrote, and how it ended.
pub fn decrypt_pipelined(
    keyring: &dyn crate::keyring::Keyring,
    opts: &crate::stream::DecryptOptions,
    message: &[u8],
    workers: usize,
    batch_bytes: usize,
) -> (Vec<u8>, crate::error::Result<()>) {
    let tuning = crate::stream::Tuning {
        workers,
        batch_bytes: batch_bytes.max(1),
        small: 0,
    };
    let mut out = Vec::new();
    let r = crate::stream::AuthenticatedHeader::read(keyring, opts, message)
        .and_then(|h| h.decrypt_with(&mut out, tuning))
        .map(|_| ());
    (out, r)
}

/// Test probes into the tokio adapters: whether their blocking tasks have
/// all ended.
#[cfg(feature = "tokio")]
pub mod tokio {
    pub use crate::stream::tokio::probe::TaskProbe;
    use crate::stream::tokio::{DecryptingReader, EncryptingWriter};

    /// The probe of a writer's blocking tasks.
    pub fn writer_probe<W: ::tokio::io::AsyncWrite + Unpin>(w: &EncryptingWriter<W>) -> TaskProbe {
        crate::stream::tokio::writer_probe(w)
    }

    /// The probe of a reader's blocking tasks.
    pub fn reader_probe<R: ::tokio::io::AsyncRead + Unpin>(r: &DecryptingReader<R>) -> TaskProbe {
        crate::stream::tokio::reader_probe(r)
    }
}
