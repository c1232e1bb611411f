//! The SFrame header (RFC 9605 §4.3).
//!
//! ```text
//!  0 1 2 3 4 5 6 7
//! +-+-+-+-+-+-+-+-+---------------------------+---------------------------+
//! |X|  K  |Y|  C  |   Key ID (if X=1)         |  Counter (if Y=1)         |
//! +-+-+-+-+-+-+-+-+---------------------------+---------------------------+
//! ```
//!
//! A value below 8 is carried inline in `K` (resp. `C`) with `X = 0` (resp. `Y = 0`).
//! Otherwise `X = 1` and `K` is the length of the key id minus one; the key id follows
//! in that many big-endian bytes, the fewest that hold it. The counter is encoded the
//! same way with `Y` and `C`, after the key id. Decoding refuses any other encoding, so
//! every (KID, CTR) pair has exactly one header and the header bytes (the first part of
//! the AAD) are canonical.
//!
//! ```
//! use sotto::media::{Counter, KeyId, SframeHeader};
//!
//! let header = SframeHeader::new(KeyId::new(291), Counter::new(17767));
//! let bytes = header.encode();
//! assert_eq!(bytes.as_bytes(), &[0x99, 0x01, 0x23, 0x45, 0x67]);
//! let (decoded, len) = SframeHeader::decode(bytes.as_bytes())?;
//! assert_eq!((decoded, len), (header, 5));
//! # Ok::<(), sotto::media::HeaderError>(())
//! ```

use core::fmt;

use super::error::HeaderError;

/// Largest encoded header: one configuration byte, 8 key id bytes, 8 counter bytes.
pub const MAX_HEADER_LEN: usize = 17;

/// An SFrame key id (KID), naming the key a frame was encrypted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(u64);

impl KeyId {
    /// Wraps a 64-bit key id.
    #[must_use]
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The key id as a number.
    #[must_use]
    pub const fn value(self) -> u64 {
        self.0
    }
}

impl From<u64> for KeyId {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An SFrame frame counter (CTR), unique per frame under one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Counter(u64);

impl Counter {
    /// Wraps a 64-bit counter.
    #[must_use]
    pub const fn new(value: u64) -> Self {
        Self(value)
    }

    /// The counter as a number.
    #[must_use]
    pub const fn value(self) -> u64 {
        self.0
    }
}

impl From<u64> for Counter {
    fn from(value: u64) -> Self {
        Self(value)
    }
}

impl fmt::Display for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A decoded SFrame header: which key, which frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SframeHeader {
    kid: KeyId,
    ctr: Counter,
}

/// An encoded header held on the stack (no allocation).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EncodedHeader {
    bytes: [u8; MAX_HEADER_LEN],
    len: usize,
}

impl EncodedHeader {
    /// The header bytes as sent on the wire.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

impl fmt::Debug for EncodedHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncodedHeader(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// Number of bytes of the minimal big-endian encoding of `v` (`v >= 8`), 1..=8.
fn min_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(8).max(1)
}

/// Writes the field for `v`: returns the 4-bit nibble (flag + 3 bits) and the bytes written.
fn write_field(v: u64, out: &mut [u8; MAX_HEADER_LEN], pos: usize) -> (u8, usize) {
    if v < 8 {
        // The value fits the 3 inline bits; the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        return (v as u8, 0);
    }
    let n = min_len(v);
    let be = v.to_be_bytes();
    for (dst, src) in out.iter_mut().skip(pos).zip(be.iter().skip(8usize.saturating_sub(n))) {
        *dst = *src;
    }
    // n is 1..=8, so n - 1 fits in 3 bits.
    #[allow(clippy::cast_possible_truncation)]
    let nibble = 0x08 | ((n - 1) as u8);
    (nibble, n)
}

/// Reads one field described by `nibble` from `rest`; returns the value and bytes consumed.
fn read_field(nibble: u8, rest: &[u8]) -> Result<(u64, usize), (usize, bool)> {
    let inline = u64::from(nibble & 0x07);
    if nibble & 0x08 == 0 {
        return Ok((inline, 0));
    }
    let n = usize::from(nibble & 0x07) + 1;
    let bytes = rest.get(..n).ok_or((n, false))?;
    let v = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if v < 8 || min_len(v) != n {
        return Err((n, true));
    }
    Ok((v, n))
}

impl SframeHeader {
    /// A header for key id `kid` and counter `ctr`.
    #[must_use]
    pub const fn new(kid: KeyId, ctr: Counter) -> Self {
        Self { kid, ctr }
    }

    /// The key id.
    #[must_use]
    pub const fn kid(&self) -> KeyId {
        self.kid
    }

    /// The counter.
    #[must_use]
    pub const fn ctr(&self) -> Counter {
        self.ctr
    }

    /// Length of the encoded header in bytes (1 to [`MAX_HEADER_LEN`]).
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let field = |v: u64| if v < 8 { 0 } else { min_len(v) };
        1 + field(self.kid.0) + field(self.ctr.0)
    }

    /// Encodes the header minimally (RFC 9605 §4.3).
    #[must_use]
    pub fn encode(&self) -> EncodedHeader {
        let mut bytes = [0u8; MAX_HEADER_LEN];
        let (k, klen) = write_field(self.kid.0, &mut bytes, 1);
        let (c, clen) = write_field(self.ctr.0, &mut bytes, 1 + klen);
        bytes[0] = (k << 4) | c;
        EncodedHeader { bytes, len: 1 + klen + clen }
    }

    /// Decodes a header from the start of `input`, returning it and its length in bytes.
    ///
    /// The bytes after the header (ciphertext and tag) are not looked at.
    ///
    /// # Errors
    ///
    /// [`HeaderError::Truncated`] if `input` ends inside the header;
    /// [`HeaderError::NonMinimalKeyId`] / [`HeaderError::NonMinimalCounter`] if a field
    /// is not in its unique minimal encoding.
    pub fn decode(input: &[u8]) -> Result<(Self, usize), HeaderError> {
        let (&config, rest) =
            input.split_first().ok_or(HeaderError::Truncated { needed: 1, found: 0 })?;
        let truncated = |needed: usize| HeaderError::Truncated { needed, found: input.len() };
        let (kid, klen) = read_field(config >> 4, rest).map_err(|(n, non_minimal)| {
            if non_minimal { HeaderError::NonMinimalKeyId } else { truncated(1 + n) }
        })?;
        let after_kid = rest.get(klen..).unwrap_or(&[]);
        let (ctr, clen) = read_field(config & 0x0f, after_kid).map_err(|(n, non_minimal)| {
            if non_minimal { HeaderError::NonMinimalCounter } else { truncated(1 + klen + n) }
        })?;
        Ok((Self::new(KeyId(kid), Counter(ctr)), 1 + klen + clen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_values() {
        let h = SframeHeader::new(KeyId(7), Counter(5));
        assert_eq!(h.encode().as_bytes(), &[0x75]);
        assert_eq!(SframeHeader::decode(&[0x75]).unwrap(), (h, 1));
    }

    #[test]
    fn extended_values_round_trip() {
        for &(kid, ctr) in &[(8u64, 0u64), (0, 8), (255, 256), (u64::MAX, u64::MAX), (1 << 56, 9)] {
            let h = SframeHeader::new(KeyId(kid), Counter(ctr));
            let e = h.encode();
            assert_eq!(e.as_bytes().len(), h.encoded_len());
            let mut buf = e.as_bytes().to_vec();
            buf.extend_from_slice(b"trailing ciphertext");
            assert_eq!(SframeHeader::decode(&buf).unwrap(), (h, h.encoded_len()));
        }
    }

    #[test]
    fn max_header() {
        let h = SframeHeader::new(KeyId(u64::MAX), Counter(u64::MAX));
        assert_eq!(h.encode().as_bytes().len(), MAX_HEADER_LEN);
        assert_eq!(h.encode().as_bytes()[0], 0xff);
    }

    #[test]
    fn refuses_truncation() {
        assert_eq!(SframeHeader::decode(&[]), Err(HeaderError::Truncated { needed: 1, found: 0 }));
        // KID of 2 bytes announced, 1 present.
        assert_eq!(
            SframeHeader::decode(&[0x90, 0x01]),
            Err(HeaderError::Truncated { needed: 3, found: 2 })
        );
        // CTR of 2 bytes announced after a 1-byte KID, 1 present.
        assert_eq!(
            SframeHeader::decode(&[0x89, 0x10, 0x01]),
            Err(HeaderError::Truncated { needed: 4, found: 3 })
        );
    }

    #[test]
    fn refuses_non_minimal() {
        // KID 7 as an extended one-byte field.
        assert_eq!(SframeHeader::decode(&[0x80, 0x07]), Err(HeaderError::NonMinimalKeyId));
        // KID 0x10 in two bytes.
        assert_eq!(SframeHeader::decode(&[0x90, 0x00, 0x10]), Err(HeaderError::NonMinimalKeyId));
        // CTR 3 as an extended field.
        assert_eq!(SframeHeader::decode(&[0x08, 0x03]), Err(HeaderError::NonMinimalCounter));
        // CTR 0x0100 in three bytes.
        assert_eq!(
            SframeHeader::decode(&[0x0a, 0x00, 0x01, 0x00]),
            Err(HeaderError::NonMinimalCounter)
        );
    }
}
