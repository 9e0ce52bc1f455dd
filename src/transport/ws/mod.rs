//! STUB (replaced by the real codec).
pub mod codec;
pub mod error;
pub mod handshake;
pub mod mask;
pub mod reader;
