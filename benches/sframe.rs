//! SFrame frame encryption + decryption against the bare AEAD of each suite.
//!
//! For each suite and frame size, two benchmarks run in the same group, one after the
//! other in one process: `aead` (the RustCrypto primitives alone: AES-GCM or
//! ChaCha20-Poly1305 from their crates, or AES-CTR + HMAC assembled from `ctr`/`hmac`
//! exactly as RFC 9605 §4.5.1 specifies, with key schedules built once) and `sframe`
//! (`SframeSender::encrypt_into` + `SframeReceiver::decrypt_into`, header, nonce,
//! replay window included). Throughput is one frame per iteration, so criterion
//! reports frames/s; compare the two times as a ratio.

// A benchmark, not library code: a failure here is the bench aborting, so it may
// unwrap, panic and index like a test does; criterion macros generate undocumented items.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::type_complexity
)]

use std::hint::black_box;
use std::time::Duration;

use aes::{Aes128, Aes256};
use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use chacha20poly1305::ChaCha20Poly1305;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ctr::cipher::{InnerIvInit, StreamCipher};
use ctr::{Ctr32BE, CtrCore, flavors};
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};
use sotto::media::{BaseKey, CipherSuite, KeyId, SframeKeyMaterial, SframeReceiver, SframeSender};

const NONCE: [u8; 12] = [0x42; 12];
const AAD: &[u8] = &[0x99, 0x01, 0x23, 0x45, 0x67];

fn iv() -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[..12].copy_from_slice(&NONCE);
    iv
}

fn tag_of<M: Mac + Clone>(mac: &M, nt: usize, ct: &[u8], out: &mut [u8; 16]) {
    let mut m = mac.clone();
    m.update(&(AAD.len() as u64).to_be_bytes());
    m.update(&(ct.len() as u64).to_be_bytes());
    m.update(&(nt as u64).to_be_bytes());
    m.update(&NONCE);
    m.update(AAD);
    m.update(ct);
    out[..nt].copy_from_slice(&m.finalize().into_bytes()[..nt]);
}

macro_rules! ctr_hmac_anchor {
    ($aes:ty, $hash:ty, $key:expr, $nka:expr, $nt:expr) => {{
        let aes = <$aes as KeyInit>::new_from_slice(&$key[..$nka]).unwrap();
        let mac = <Hmac<$hash> as KeyInit>::new_from_slice(&$key[$nka..]).unwrap();
        let nt: usize = $nt;
        Box::new(move |buf: &mut [u8]| {
            let mut tag = [0u8; 16];
            let core = CtrCore::<$aes, flavors::Ctr32BE>::inner_iv_init(aes.clone(), &iv().into());
            Ctr32BE::<$aes>::from_core(core).apply_keystream(buf);
            tag_of(&mac, nt, buf, &mut tag);
            let mut check = [0u8; 16];
            tag_of(&mac, nt, buf, &mut check);
            assert_eq!(tag[..nt], check[..nt]);
            let core = CtrCore::<$aes, flavors::Ctr32BE>::inner_iv_init(aes.clone(), &iv().into());
            Ctr32BE::<$aes>::from_core(core).apply_keystream(buf);
        }) as Box<dyn FnMut(&mut [u8])>
    }};
}

macro_rules! aead_anchor {
    ($ty:ty, $key:expr) => {{
        let c = <$ty>::new_from_slice(&$key).unwrap();
        Box::new(move |buf: &mut [u8]| {
            let tag = c.encrypt_inout_detached(&NONCE.into(), AAD, buf.into()).unwrap();
            c.decrypt_inout_detached(&NONCE.into(), AAD, buf.into(), &tag).unwrap();
        }) as Box<dyn FnMut(&mut [u8])>
    }};
}

/// Encrypt + decrypt of one frame with the suite's bare AEAD.
fn anchor(suite: CipherSuite, key: &[u8]) -> Box<dyn FnMut(&mut [u8])> {
    let key = key.to_vec();
    match suite {
        CipherSuite::Aes128CtrHmacSha256_80
        | CipherSuite::Aes128CtrHmacSha256_64
        | CipherSuite::Aes128CtrHmacSha256_32 => {
            ctr_hmac_anchor!(Aes128, Sha256, key, 16, suite.nt())
        }
        CipherSuite::Aes256CtrHmacSha512_80
        | CipherSuite::Aes256CtrHmacSha512_64
        | CipherSuite::Aes256CtrHmacSha512_32 => {
            ctr_hmac_anchor!(Aes256, Sha512, key, 32, suite.nt())
        }
        CipherSuite::Aes128GcmSha256_128 => aead_anchor!(Aes128Gcm, key),
        CipherSuite::Aes256GcmSha512_128 => aead_anchor!(Aes256Gcm, key),
        CipherSuite::ChaCha20Poly1305Sha256_128 => aead_anchor!(ChaCha20Poly1305, key),
        _ => unreachable!("every suite is listed"),
    }
}

fn bench(c: &mut Criterion) {
    let base = BaseKey::from_bytes(&[0x5a; 32]).unwrap();
    let kid = KeyId::new(0x123);
    for suite in CipherSuite::ALL {
        let key = SframeKeyMaterial::derive(suite, kid, &base).unwrap();
        for size in [1024usize, 16 * 1024] {
            let mut group = c.benchmark_group(format!("sframe/{suite:?}/{size}"));
            group.throughput(Throughput::Elements(1));
            group.measurement_time(Duration::from_secs(2));
            group.warm_up_time(Duration::from_millis(500));
            group.sample_size(30);

            let mut bare = anchor(suite, key.expose_key());
            let mut buf = vec![0x11u8; size];
            group.bench_function("aead", |b| b.iter(|| bare(black_box(&mut buf))));

            let mut tx = SframeSender::new(suite, kid, &base).unwrap();
            let mut rx = SframeReceiver::new();
            rx.add_key(suite, kid, &base).unwrap();
            let pt = vec![0x11u8; size];
            let mut frame = vec![0u8; size + 64];
            let mut out = vec![0u8; size + 64];
            group.bench_function("sframe", |b| {
                b.iter(|| {
                    let n = tx.encrypt_into(b"", black_box(&pt), &mut frame).unwrap();
                    let m = rx.decrypt_into(b"", &frame[..n], &mut out).unwrap();
                    black_box(m)
                })
            });
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
