//! Nothing but the bench `benches/peers.rs`: Sotto side by side with
//! vodozemac's Olm and the `sframe` crate, interleaved against the bare
//! primitives. Run it through `benches/run.sh`, or with
//! `cargo bench -p sotto-peer-benches`.
