//! The envelope every message travels in (`wire.proto`, `Envelope`):
//! parsed with every length checked before any key is touched.

use prost::Message;

use super::SessionError;
use crate::keys::{DhPublicKey, IdentityKey, OneTimePreKeyId, SignedPreKeyId};
use crate::proto::wire;
use crate::protocol::{MAX_ENVELOPE_LEN, WIRE_VERSION};

/// The length of a Poly1305 tag: the shortest possible ciphertext.
const TAG_LEN: usize = 16;

pub(crate) struct RatchetMessage {
    pub(crate) header: Vec<u8>,
    pub(crate) ciphertext: Vec<u8>,
}

pub(crate) struct PreKeyMessage {
    pub(crate) identity_key: IdentityKey,
    pub(crate) base_key: DhPublicKey,
    pub(crate) signed_prekey_id: SignedPreKeyId,
    pub(crate) one_time_prekey_id: Option<OneTimePreKeyId>,
    pub(crate) message: RatchetMessage,
}

pub(crate) enum Envelope {
    PreKey(Box<PreKeyMessage>),
    Ratchet(RatchetMessage),
}

impl RatchetMessage {
    fn from_wire(message: wire::RatchetMessage) -> Result<Self, SessionError> {
        if message.ciphertext.len() < TAG_LEN {
            return Err(SessionError::MalformedMessage { reason: "ciphertext shorter than a tag" });
        }
        Ok(Self { header: message.header, ciphertext: message.ciphertext })
    }

    fn to_wire(&self) -> wire::RatchetMessage {
        wire::RatchetMessage { header: self.header.clone(), ciphertext: self.ciphertext.clone() }
    }
}

impl Envelope {
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, SessionError> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(SessionError::MessageTooLarge {
                max: MAX_ENVELOPE_LEN,
                found: bytes.len(),
            });
        }
        let envelope = wire::Envelope::decode(bytes)
            .map_err(|_| SessionError::MalformedMessage { reason: "not a protobuf Envelope" })?;
        if envelope.version != WIRE_VERSION {
            return Err(SessionError::UnsupportedVersion {
                expected: WIRE_VERSION,
                found: envelope.version,
            });
        }
        match envelope.content {
            Some(wire::envelope::Content::RatchetMessage(message)) => {
                Ok(Self::Ratchet(RatchetMessage::from_wire(message)?))
            }
            Some(wire::envelope::Content::PrekeyMessage(prekey)) => {
                let identity_key = IdentityKey::from_bytes(&prekey.identity_key).map_err(|_| {
                    SessionError::MalformedMessage { reason: "invalid identity key" }
                })?;
                let base_key = DhPublicKey::from_bytes(&prekey.base_key)
                    .map_err(|_| SessionError::MalformedMessage { reason: "invalid base key" })?;
                let message = prekey
                    .message
                    .ok_or(SessionError::MalformedMessage { reason: "no ratchet message" })?;
                Ok(Self::PreKey(Box::new(PreKeyMessage {
                    identity_key,
                    base_key,
                    signed_prekey_id: prekey.signed_prekey_id.into(),
                    one_time_prekey_id: prekey.one_time_prekey_id.map(Into::into),
                    message: RatchetMessage::from_wire(message)?,
                })))
            }
            None => Err(SessionError::MalformedMessage { reason: "empty envelope" }),
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let content = match self {
            Self::Ratchet(message) => wire::envelope::Content::RatchetMessage(message.to_wire()),
            Self::PreKey(prekey) => wire::envelope::Content::PrekeyMessage(wire::PreKeyMessage {
                identity_key: prekey.identity_key.to_bytes().to_vec(),
                base_key: prekey.base_key.to_bytes().to_vec(),
                signed_prekey_id: prekey.signed_prekey_id.into(),
                one_time_prekey_id: prekey.one_time_prekey_id.map(Into::into),
                message: Some(prekey.message.to_wire()),
            }),
        };
        wire::Envelope { version: WIRE_VERSION, content: Some(content) }.encode_to_vec()
    }
}
