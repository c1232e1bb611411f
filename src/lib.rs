//! Sotto: end-to-end encryption for direct messages and calls.

/// SFrame (RFC 9605) end-to-end encryption of media frames for calls.
pub mod media;
