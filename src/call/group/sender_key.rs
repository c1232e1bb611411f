//! Sender key messages (`wire.proto`, `CallSenderKey`): a participant's
//! current sender key, sent over a DM session.

use prost::Message;
use zeroize::Zeroizing;

use super::keys::SendingKey;

use super::{CallError, CallId, Epoch, GroupKeyId, MAX_SENDER_KEY_MESSAGE_LEN, ParticipantId};
use crate::media::{BaseKey, CipherSuite};
use crate::proto::wire;
use crate::protocol::WIRE_VERSION;
use crate::record;

/// A sender key message, parsed and checked against the call it is for.
pub(super) struct SenderKey {
    pub(super) id: GroupKeyId,
    pub(super) secret: BaseKey,
}

impl SenderKey {
    /// Parses a `CallSenderKey` for `call_id` under `suite`.
    pub(super) fn parse(
        bytes: &[u8],
        call_id: &CallId,
        suite: CipherSuite,
    ) -> Result<Self, CallError> {
        let malformed = |reason| CallError::MalformedSenderKey { reason };
        if bytes.len() > MAX_SENDER_KEY_MESSAGE_LEN {
            return Err(malformed("longer than any sender key message"));
        }
        let mut message = wire::CallSenderKey::decode(bytes)
            .map_err(|_| malformed("not a protobuf CallSenderKey"))?;
        // Wiped when dropped, whichever way this function returns.
        let secret = Zeroizing::new(core::mem::take(&mut message.secret));
        // Values beyond their range are refused, never truncated.
        let version =
            u32::try_from(message.version).map_err(|_| malformed("version above 2^32 - 1"))?;
        if version != WIRE_VERSION {
            return Err(CallError::UnsupportedSenderKeyVersion {
                expected: WIRE_VERSION,
                found: version,
            });
        }
        let found_call = CallId::new(core::mem::take(&mut message.call_id))
            .map_err(|_| malformed("call id length"))?;
        if found_call != *call_id {
            return Err(CallError::WrongCall { expected: call_id.clone(), found: found_call });
        }
        let found_suite = u16::try_from(message.cipher_suite)
            .map_err(|_| malformed("cipher suite id above 0xffff"))?;
        if found_suite != suite.id() {
            return Err(CallError::WrongCipherSuite { expected: suite, found: found_suite });
        }
        let epoch = Epoch::new(message.epoch).map_err(|_| malformed("epoch above 2^40 - 1"))?;
        let participant = u16::try_from(message.participant)
            .map_err(|_| malformed("participant id above 2^16 - 1"))?;
        let step = u8::try_from(message.step).map_err(|_| malformed("step above 255"))?;
        if secret.len() != suite.nh() {
            return Err(malformed("secret is not Nh bytes"));
        }
        Ok(Self {
            id: GroupKeyId::new(epoch, ParticipantId(participant), step),
            secret: BaseKey::from_bytes(&secret)?,
        })
    }

    /// Encodes a `CallSenderKey`. The result holds the secret: it is wiped
    /// when dropped, once the app has encrypted it into a DM message.
    pub(super) fn encode(
        call_id: &CallId,
        suite: CipherSuite,
        key: &SendingKey,
    ) -> Zeroizing<Vec<u8>> {
        // The message zeroizes itself on drop; the encoding is wiped too.
        record::encode(&wire::CallSenderKey {
            call_id: call_id.as_bytes().to_vec(),
            epoch: key.id.epoch.0,
            participant: u64::from(key.id.participant.0),
            step: u64::from(key.id.step),
            secret: key.base_key.expose_secret().to_vec(),
            cipher_suite: u64::from(suite.id()),
            version: WIRE_VERSION.into(),
        })
    }
}
