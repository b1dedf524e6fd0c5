//! Header codec.
