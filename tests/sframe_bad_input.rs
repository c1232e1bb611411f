//! Frames and keys that must be refused with a typed error, without panicking and
//! without changing the receiver's state.

// Test helpers outside `#[test]` functions: a failure is the test failing.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use sotto::media::{
    BaseKey, CipherSuite, Counter, FrameCipher, HeaderError, KeyId, REPLAY_WINDOW, SframeError,
    SframeHeader, SframeReceiver, SframeSender,
};

const KID: KeyId = KeyId::new(0x1234);

fn setup(suite: CipherSuite) -> (SframeSender, SframeReceiver) {
    let base = BaseKey::from_bytes(&[7; 32]).unwrap();
    let tx = SframeSender::new(suite, KID, &base).unwrap();
    let mut rx = SframeReceiver::new();
    rx.add_key(suite, KID, &base).unwrap();
    (tx, rx)
}

#[test]
fn truncated_headers() {
    let (mut tx, mut rx) = setup(CipherSuite::Aes128GcmSha256_128);
    let frame = tx.encrypt(b"", b"x").unwrap();
    let hlen = SframeHeader::decode(&frame).unwrap().1;
    for cut in 0..hlen {
        assert!(
            matches!(
                rx.decrypt(b"", &frame[..cut]),
                Err(SframeError::Header(HeaderError::Truncated { .. }))
            ),
            "cut {cut}"
        );
    }
    assert_eq!(rx.decrypt(b"", &frame).unwrap(), b"x");
}

#[test]
fn overlong_encodings() {
    let (mut tx, mut rx) = setup(CipherSuite::Aes128CtrHmacSha256_80);
    let frame = tx.encrypt(b"", b"payload").unwrap();
    // KID 0x1234 re-encoded in 3 bytes instead of 2: same values, non-minimal.
    let mut long_kid = vec![0xa0, 0x00, 0x12, 0x34];
    long_kid.extend_from_slice(&frame[3..]);
    assert_eq!(rx.decrypt(b"", &long_kid), Err(SframeError::Header(HeaderError::NonMinimalKeyId)));
    // CTR 0 re-encoded as an extended one-byte field.
    let mut long_ctr = vec![0x98, 0x12, 0x34, 0x00];
    long_ctr.extend_from_slice(&frame[3..]);
    assert_eq!(
        rx.decrypt(b"", &long_ctr),
        Err(SframeError::Header(HeaderError::NonMinimalCounter))
    );
    assert_eq!(rx.decrypt(b"", &frame).unwrap(), b"payload");
}

#[test]
fn unknown_and_removed_keys() {
    let (mut tx, mut rx) = setup(CipherSuite::Aes256GcmSha512_128);
    let f1 = tx.encrypt(b"", b"one").unwrap();
    let f2 = tx.encrypt(b"", b"two").unwrap();
    let mut other = SframeSender::new(
        CipherSuite::Aes256GcmSha512_128,
        KeyId::new(9),
        &BaseKey::from_bytes(&[7; 32]).unwrap(),
    )
    .unwrap();
    let stranger = other.encrypt(b"", b"?").unwrap();
    assert_eq!(rx.decrypt(b"", &stranger), Err(SframeError::UnknownKeyId(KeyId::new(9))));
    assert_eq!(rx.decrypt(b"", &f1).unwrap(), b"one");
    assert!(rx.remove_key(KID));
    assert!(!rx.remove_key(KID));
    assert_eq!(rx.decrypt(b"", &f2), Err(SframeError::UnknownKeyId(KID)));
}

#[test]
fn replayed_and_too_old() {
    let (mut tx, mut rx) = setup(CipherSuite::ChaCha20Poly1305Sha256_128);
    let frames: Vec<Vec<u8>> =
        (0..=REPLAY_WINDOW + 1).map(|i| tx.encrypt(b"m", &i.to_be_bytes()).unwrap()).collect();
    let last = frames.last().unwrap();
    assert!(rx.decrypt(b"m", last).is_ok());
    assert!(
        matches!(rx.decrypt(b"m", last), Err(SframeError::Replay { ctr, .. }) if ctr == REPLAY_WINDOW + 1)
    );
    // Counter 0 is REPLAY_WINDOW + 1 behind: too old. Counter 1 is exactly REPLAY_WINDOW behind: too old.
    assert!(matches!(rx.decrypt(b"m", &frames[0]), Err(SframeError::TooOld { ctr: 0, .. })));
    assert!(matches!(rx.decrypt(b"m", &frames[1]), Err(SframeError::TooOld { ctr: 1, .. })));
    // Counter 2 is inside the window, once.
    assert_eq!(rx.decrypt(b"m", &frames[2]).unwrap(), 2u64.to_be_bytes());
    assert!(matches!(rx.decrypt(b"m", &frames[2]), Err(SframeError::Replay { ctr: 2, .. })));
}

#[test]
fn every_flipped_byte_fails_and_changes_nothing() {
    for suite in CipherSuite::ALL {
        let (mut tx, mut rx) = setup(suite);
        let frame = tx.encrypt(b"meta", b"a frame of media, authenticated").unwrap();
        for i in 0..frame.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = frame.clone();
                bad[i] ^= bit;
                let err = rx.decrypt(b"meta", &bad).unwrap_err();
                assert!(
                    matches!(
                        err,
                        SframeError::AuthenticationFailed
                            | SframeError::UnknownKeyId(_)
                            | SframeError::Header(_)
                            | SframeError::FrameTooShort { .. }
                    ),
                    "{suite:?} byte {i}: {err:?}"
                );
            }
        }
        // Truncated bodies fail too.
        for cut in 3..frame.len() {
            assert!(rx.decrypt(b"meta", &frame[..cut]).is_err(), "{suite:?} cut {cut}");
        }
        // Nothing above moved the replay window: the genuine frame still decrypts, once.
        assert_eq!(rx.decrypt(b"meta", &frame).unwrap(), b"a frame of media, authenticated");
        assert!(rx.decrypt(b"meta", &frame).is_err());
    }
}

#[test]
fn wrong_key_lengths() {
    for suite in CipherSuite::ALL {
        for len in [0, 1, suite.nk() - 1, suite.nk() + 1, 200] {
            assert_eq!(
                FrameCipher::new(suite, &vec![0u8; len]).unwrap_err(),
                SframeError::InvalidKeyLength { suite, expected: suite.nk(), found: len }
            );
        }
        assert!(FrameCipher::new(suite, &vec![0u8; suite.nk()]).is_ok());
    }
    assert_eq!(BaseKey::from_bytes(&[]).unwrap_err(), SframeError::EmptyBaseKey);
    assert_eq!(CipherSuite::from_id(9).unwrap_err(), SframeError::UnsupportedCipherSuite(9));
}

#[test]
fn small_output_buffers() {
    let (mut tx, mut rx) = setup(CipherSuite::Aes128CtrHmacSha256_32);
    let frame = tx.encrypt(b"", &[5; 100]).unwrap();
    let mut out = [0u8; 99];
    assert_eq!(
        rx.decrypt_into(b"", &frame, &mut out),
        Err(SframeError::BufferTooSmall { needed: 100, found: 99 })
    );
    let mut out = [0u8; 100];
    assert_eq!(rx.decrypt_into(b"", &frame, &mut out).unwrap(), 100);
    assert_eq!(out, [5; 100]);
}

#[test]
fn wrong_metadata_or_key() {
    let (mut tx, mut rx) = setup(CipherSuite::Aes256CtrHmacSha512_64);
    let frame = tx.encrypt(b"metadata", b"body").unwrap();
    assert_eq!(rx.decrypt(b"metadatA", &frame), Err(SframeError::AuthenticationFailed));
    assert_eq!(rx.decrypt(b"", &frame), Err(SframeError::AuthenticationFailed));
    let mut wrong = SframeReceiver::new();
    wrong
        .add_key(CipherSuite::Aes256CtrHmacSha512_64, KID, &BaseKey::from_bytes(&[8; 32]).unwrap())
        .unwrap();
    assert_eq!(wrong.decrypt(b"metadata", &frame), Err(SframeError::AuthenticationFailed));
    // Same base key under another suite: different keys, refused.
    let mut other_suite = SframeReceiver::new();
    other_suite
        .add_key(CipherSuite::Aes256CtrHmacSha512_80, KID, &BaseKey::from_bytes(&[7; 32]).unwrap())
        .unwrap();
    assert!(other_suite.decrypt(b"metadata", &frame).is_err());
    assert_eq!(rx.decrypt(b"metadata", &frame).unwrap(), b"body");
}

#[test]
fn arbitrary_garbage_never_panics() {
    let (_, mut rx) = setup(CipherSuite::Aes128GcmSha256_128);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = (state % 40) as usize;
        let bytes: Vec<u8> = (0..len).map(|i| (state >> (i % 8 * 8)) as u8 ^ i as u8).collect();
        let _ = rx.decrypt(b"", &bytes);
        let _ = SframeHeader::decode(&bytes);
    }
    // An untouched receiver state: a fresh frame at counter 0 still works.
    let mut tx = SframeSender::starting_at(
        CipherSuite::Aes128GcmSha256_128,
        KID,
        &BaseKey::from_bytes(&[7; 32]).unwrap(),
        Counter::new(0),
    )
    .unwrap();
    let frame = tx.encrypt(b"", b"ok").unwrap();
    assert_eq!(rx.decrypt(b"", &frame).unwrap(), b"ok");
}
