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
