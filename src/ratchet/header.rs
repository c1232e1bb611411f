//! The message header (Double Ratchet §3.4 `HEADER`): the sender's ratchet
//! key, the length of its previous sending chain (PN), and the message's
//! index in its current chain (N). Encoded as `wire.proto`'s
//! `RatchetHeader`; the receiver authenticates the bytes exactly as sent.

use prost::Message;

use super::RatchetError;
use crate::keys::DhPublicKey;
use crate::proto::wire;

/// The largest encoded header a valid sender produces: a 32-byte key and two
/// `u32` varints with their tags.
pub(crate) const MAX_HEADER_LEN: usize = 2 + 32 + 2 * (1 + 5);

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
            previous_counter: self.previous_counter,
            counter: self.counter,
        }
        .encode_to_vec()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, RatchetError> {
        if bytes.len() > MAX_HEADER_LEN {
            return Err(RatchetError::MalformedHeader);
        }
        let header =
            wire::RatchetHeader::decode(bytes).map_err(|_| RatchetError::MalformedHeader)?;
        Ok(Self {
            ratchet_key: DhPublicKey::from_bytes(&header.ratchet_key)
                .map_err(|_| RatchetError::MalformedHeader)?,
            previous_counter: header.previous_counter,
            counter: header.counter,
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
        assert_eq!(bytes.len(), MAX_HEADER_LEN);
        assert_eq!(Header::decode(&bytes).unwrap(), header);
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
