//! The envelope every message travels in (`wire.proto`, `Envelope`):
//! parsed with every length checked before any key is touched.

use prost::Message;

use super::SessionError;
use crate::keys::{DhPublicKey, IdentityKey, KEM_CIPHERTEXT_LEN, OneTimePreKeyId, SignedPreKeyId};
use crate::proto::wire;
use crate::protocol::{MAX_CIPHERTEXT_LEN, MAX_ENVELOPE_LEN, MIN_CIPHERTEXT_LEN, WIRE_VERSION};
use crate::x3dh::KemFields;

pub(crate) struct RatchetMessage {
    pub(crate) header: Vec<u8>,
    pub(crate) ciphertext: Vec<u8>,
}

pub(crate) struct PreKeyMessage {
    pub(crate) identity_key: IdentityKey,
    pub(crate) base_key: DhPublicKey,
    pub(crate) signed_prekey_id: SignedPreKeyId,
    pub(crate) one_time_prekey_id: Option<OneTimePreKeyId>,
    /// PQXDH's KEM prekey id and ciphertext; none for X3DH.
    pub(crate) kem: Option<KemFields>,
    pub(crate) message: RatchetMessage,
}

pub(crate) enum Envelope {
    PreKey(Box<PreKeyMessage>),
    Ratchet(RatchetMessage),
}

/// A wire value that must fit in 32 bits.
fn wide_u32(value: u64, reason: &'static str) -> Result<u32, SessionError> {
    u32::try_from(value).map_err(|_| SessionError::MalformedMessage { reason })
}

impl RatchetMessage {
    fn from_wire(message: wire::RatchetMessage) -> Result<Self, SessionError> {
        if message.ciphertext.len() < MIN_CIPHERTEXT_LEN {
            return Err(SessionError::MalformedMessage { reason: "ciphertext shorter than a tag" });
        }
        // A receiver refuses what no sender may send: a plaintext over
        // MAX_PLAINTEXT_LEN, before any key is derived.
        if message.ciphertext.len() > MAX_CIPHERTEXT_LEN {
            return Err(SessionError::MalformedMessage {
                reason: "ciphertext longer than the largest plaintext and its tag",
            });
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
        // Values beyond 32 bits are refused, never truncated.
        let version = wide_u32(envelope.version, "version above 2^32 - 1")?;
        if version != WIRE_VERSION {
            return Err(SessionError::UnsupportedVersion {
                expected: WIRE_VERSION,
                found: version,
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
                let signed_prekey_id =
                    wide_u32(prekey.signed_prekey_id, "prekey id above 2^32 - 1")?;
                let one_time_prekey_id = prekey
                    .one_time_prekey_id
                    .map(|id| wide_u32(id, "prekey id above 2^32 - 1"))
                    .transpose()?;
                let kem = match (prekey.kem_prekey_id, prekey.kem_ciphertext.as_slice()) {
                    (None, []) => None,
                    (Some(id), ciphertext) => {
                        let ciphertext: [u8; KEM_CIPHERTEXT_LEN] =
                            ciphertext.try_into().map_err(|_| SessionError::MalformedMessage {
                                reason: "KEM ciphertext of another length than 1568 bytes",
                            })?;
                        Some(KemFields {
                            prekey_id: wide_u32(id, "prekey id above 2^32 - 1")?.into(),
                            ciphertext: Box::new(ciphertext),
                        })
                    }
                    (None, _) => {
                        return Err(SessionError::MalformedMessage {
                            reason: "a KEM ciphertext without a KEM prekey id",
                        });
                    }
                };
                Ok(Self::PreKey(Box::new(PreKeyMessage {
                    identity_key,
                    base_key,
                    signed_prekey_id: signed_prekey_id.into(),
                    one_time_prekey_id: one_time_prekey_id.map(Into::into),
                    kem,
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
                signed_prekey_id: u32::from(prekey.signed_prekey_id).into(),
                one_time_prekey_id: prekey.one_time_prekey_id.map(|id| u32::from(id).into()),
                message: Some(prekey.message.to_wire()),
                kem_prekey_id: prekey.kem.as_ref().map(|kem| u32::from(kem.prekey_id).into()),
                kem_ciphertext: prekey
                    .kem
                    .as_ref()
                    .map(|kem| kem.ciphertext.to_vec())
                    .unwrap_or_default(),
            }),
        };
        wire::Envelope { version: WIRE_VERSION.into(), content: Some(content) }.encode_to_vec()
    }
}
