//! The bodies of the fuzz targets, shared with the root crate's corpus
//! replay test (`tests/fuzz_corpora.rs`).

#[path = "bodies.rs"]
pub mod bodies;
