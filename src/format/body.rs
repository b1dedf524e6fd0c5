//! Body codec.
