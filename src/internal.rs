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
