//! The message header (Double Ratchet §3.4 `HEADER`): the sender's ratchet
//! key, the length of its previous sending chain (PN), and the message's
//! index in its current chain (N). Encoded as `wire.proto`'s
//! `RatchetHeader`; the receiver authenticates the bytes exactly as sent.

use prost::Message;

use super::RatchetError;
use crate::keys::DhPublicKey;
use crate::proto::wire;
use crate::protocol::MAX_RATCHET_HEADER_LEN;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) ratchet_key: DhPublicKey,
    pub(crate) previous_counter: u32,
    pub(crate) counter: u32,
}

impl Header {
    pub(crate) fn encode(&self) -> Vec<u8> {
        wire::RatchetHeader {
            ratchet_key: self.ratchet_key.to_bytes().to_vec(),
            previous_counter: self.previous_counter.into(),
            counter: self.counter.into(),
        }
        .encode_to_vec()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, RatchetError> {
        if bytes.len() > MAX_RATCHET_HEADER_LEN {
            return Err(RatchetError::MalformedHeader);
        }
        let header =
            wire::RatchetHeader::decode(bytes).map_err(|_| RatchetError::MalformedHeader)?;
        Ok(Self {
            ratchet_key: DhPublicKey::from_bytes(&header.ratchet_key)
                .map_err(|_| RatchetError::MalformedHeader)?,
            // A counter beyond 32 bits is refused, never truncated.
            previous_counter: u32::try_from(header.previous_counter)
                .map_err(|_| RatchetError::MalformedHeader)?,
            counter: u32::try_from(header.counter).map_err(|_| RatchetError::MalformedHeader)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_fits_the_bound() {
        let header = Header {
            ratchet_key: DhPublicKey::from_bytes(&[3; 32]).unwrap(),
            previous_counter: u32::MAX,
            counter: u32::MAX,
        };
        let bytes = header.encode();
        assert_eq!(bytes.len(), MAX_RATCHET_HEADER_LEN);
        assert_eq!(Header::decode(&bytes).unwrap(), header);
    }

    /// A counter of N + 2³² fits the length bound in a 5-byte varint; a
    /// decoder that truncates to 32 bits would read it as N.
    #[test]
    fn counters_beyond_32_bits_are_refused_not_truncated() {
        let wide = |previous_counter: u64, counter: u64| {
            wire::RatchetHeader { ratchet_key: vec![3; 32], previous_counter, counter }
                .encode_to_vec()
        };
        let five = 1u64 << 32 | 5;
        assert!(wide(0, five).len() <= MAX_RATCHET_HEADER_LEN);
        assert_eq!(Header::decode(&wide(0, five)), Err(RatchetError::MalformedHeader));
        assert_eq!(Header::decode(&wide(five, 0)), Err(RatchetError::MalformedHeader));
        assert!(Header::decode(&wide(u32::MAX.into(), 5)).is_ok());
    }

    #[test]
    fn refuses_short_keys_and_garbage() {
        let mut bytes = Header {
            ratchet_key: DhPublicKey::from_bytes(&[3; 32]).unwrap(),
            previous_counter: 1,
            counter: 2,
        }
        .encode();
        bytes[1] = 31; // the key's length prefix
        assert_eq!(Header::decode(&bytes), Err(RatchetError::MalformedHeader));
        assert_eq!(Header::decode(&[0xff; 8]), Err(RatchetError::MalformedHeader));
        assert_eq!(Header::decode(&[]), Err(RatchetError::MalformedHeader));
    }
}
