//! Stored records: the versioned protobuf encoding of everything a device
//! keeps between runs (`proto/storage.proto`), separate from the wire format.
//!
//! Each storable type has `to_record_bytes` and `from_record_bytes`. Loading
//! checks the size, the version and every field, so that a corrupted or
//! foreign record is refused with a [`RecordError`], never half-loaded.

use prost::Message;
use zeroize::Zeroizing;

use crate::protocol::{MAX_RECORD_LEN, RECORD_VERSION};

/// Why a stored record could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record is larger than any record Sotto writes.
    #[error("the record is {found} bytes, more than the limit of {max}")]
    TooLarge {
        /// The limit ([`MAX_RECORD_LEN`]).
        max: usize,
        /// The record's length.
        found: usize,
    },
    /// The bytes are not a protobuf message of the expected kind.
    #[error("the record is not valid protobuf")]
    Malformed,
    /// The record was written by a version of Sotto this one cannot read.
    #[error("record version {found} is not supported (this build reads {expected})")]
    UnsupportedVersion {
        /// The version this build reads.
        expected: u32,
        /// The version in the record.
        found: u32,
    },
    /// A field has an impossible value (a key of the wrong length, say).
    #[error("the record's field `{field}` is invalid")]
    InvalidField {
        /// The field's name in `proto/storage.proto`.
        field: &'static str,
    },
}

/// Decodes a stored record of type `M`, checking its size; the caller checks
/// the version with [`check_version`].
pub(crate) fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M, RecordError> {
    if bytes.len() > MAX_RECORD_LEN {
        return Err(RecordError::TooLarge { max: MAX_RECORD_LEN, found: bytes.len() });
    }
    M::decode(bytes).map_err(|_| RecordError::Malformed)
}

/// Encodes a record into a buffer that is wiped when dropped.
pub(crate) fn encode<M: Message>(message: &M) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(message.encoded_len()));
    // Encoding into a Vec cannot run out of space.
    let _ = message.encode(&mut *out);
    out
}

pub(crate) fn check_version(found: u32) -> Result<(), RecordError> {
    if found == RECORD_VERSION {
        Ok(())
    } else {
        Err(RecordError::UnsupportedVersion { expected: RECORD_VERSION, found })
    }
}

/// Reads a fixed-size secret field.
pub(crate) fn secret32(
    bytes: &[u8],
    field: &'static str,
) -> Result<Zeroizing<[u8; 32]>, RecordError> {
    let array: [u8; 32] = bytes.try_into().map_err(|_| RecordError::InvalidField { field })?;
    Ok(Zeroizing::new(array))
}
