//! Sotto: end-to-end encryption for direct messages and calls.
