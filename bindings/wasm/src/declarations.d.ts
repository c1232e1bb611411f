/** A device of an account: the peer of a session. `account` is the app's
 *  own user id (1 to 256 bytes of UTF-8, never a phone number); `device` an
 *  integer from 0 to 2^32 - 1. */
export interface Address {
  account: string;
  device: number;
}

/** The public half of a signed prekey, as uploaded to the server. */
export interface SignedPreKeyPublic {
  id: number;
  /** X25519 public key, 32 bytes. */
  key: Uint8Array;
  /** Ed25519 signature by the identity key, 64 bytes. */
  signature: Uint8Array;
}

/** The public half of a one-time prekey, as uploaded to the server. */
export interface OneTimePreKeyPublic {
  id: number;
  /** X25519 public key, 32 bytes. */
  key: Uint8Array;
}

/**
 * The stable `code` of every error Sotto throws. Codes are never renamed;
 * new ones may be added.
 *
 * - `INVALID_ARGUMENT`: an argument is unusable (a bad address, key, id,
 *   cipher suite, call id, scanned safety number, or a store object that
 *   lacks a method).
 * - `INVALID_BUNDLE`: a prekey bundle is malformed, of another version, or
 *   its signed prekey is not signed by its identity key.
 * - `MALFORMED_MESSAGE`: a received message is not a well-formed Sotto
 *   message (too large, not protobuf, another wire version, bad header).
 * - `NO_SESSION`: no session with the address, or none that the message
 *   belongs to: process the peer's bundle first.
 * - `STALE_DECRYPTION`: `commit()` after the session was written since the
 *   decryption (an `encrypt` to the address, another commit): nothing was
 *   stored; decrypt the message again.
 * - `NO_LOCAL_IDENTITY`: the store has no identity key pair.
 * - `UNTRUSTED_IDENTITY`: `error.address` presented another identity key
 *   (`error.identityKey`) than the one recorded. Show the change; once the
 *   user accepts it, call `trustIdentity(address, identityKey, ...)`.
 * - `UNKNOWN_PREKEY`: a first message names a signed or one-time prekey
 *   this device does not have (never made, removed, or already used).
 * - `DUPLICATE_MESSAGE`: message `error.counter` was already decrypted and
 *   committed: an app that commits before acknowledging treats it as
 *   "already have it" and acknowledges.
 * - `LIMIT_EXCEEDED`: a plaintext over the size limit, a message too far
 *   ahead in its chain, an exhausted message or frame counter.
 * - `AUTHENTICATION_FAILED`: a message or frame was altered, or is not
 *   meant for this session or key.
 * - `KEY_AGREEMENT_FAILED`: X3DH or the ratchet refused a key (small
 *   order), or both ends of a call have the same identity.
 * - `FRAME_REJECTED`: an SFrame frame with a malformed header, an unknown
 *   key id, or too short to hold a tag.
 * - `FRAME_REPLAYED`: an SFrame frame already received, or older than the
 *   replay window.
 * - `CORRUPT_RECORD`: a stored record cannot be loaded.
 * - `STORE`: the store failed; for a JS store that threw, `error.cause` is
 *   what it threw.
 * - `ALREADY_COMMITTED`: `commit()` again after it succeeded.
 * - `INTERNAL`: a failure this version has no code for.
 */
export type ErrorCode =
  | "INVALID_ARGUMENT"
  | "INVALID_BUNDLE"
  | "MALFORMED_MESSAGE"
  | "NO_SESSION"
  | "STALE_DECRYPTION"
  | "NO_LOCAL_IDENTITY"
  | "UNTRUSTED_IDENTITY"
  | "UNKNOWN_PREKEY"
  | "DUPLICATE_MESSAGE"
  | "LIMIT_EXCEEDED"
  | "AUTHENTICATION_FAILED"
  | "KEY_AGREEMENT_FAILED"
  | "FRAME_REJECTED"
  | "FRAME_REPLAYED"
  | "CORRUPT_RECORD"
  | "STORE"
  | "ALREADY_COMMITTED"
  | "INTERNAL";

/** What every Sotto function throws: an `Error` named `"SottoError"`.
 *  Whatever the error, no store changed. */
export interface SottoError extends Error {
  name: "SottoError";
  code: ErrorCode;
  /** `UNTRUSTED_IDENTITY`: the address that presented a new key. */
  address?: Address;
  /** `UNTRUSTED_IDENTITY`: the identity key it presented (32 bytes). */
  identityKey?: Uint8Array;
  /** `DUPLICATE_MESSAGE`: the message's index in its chain. */
  counter?: number;
  /** `STORE`: what the JS store threw. */
  cause?: unknown;
}

/** The writes of one handled message, given to `ProtocolStore.commit`. */
export interface PendingWrites {
  address: Address;
  /** The session record to store for `address`. */
  session: Uint8Array;
  /** An identity record to store for `address` (seen for the first time). */
  newPeerIdentity: Uint8Array | null;
  /** A one-time prekey the session consumed, to remove. */
  consumedOneTimePrekey: number | null;
}

/**
 * A store the app implements (over IndexedDB, say). Records are opaque
 * bytes: keep each as given and return it unchanged. A getter returns
 * `null` or `undefined` when there is no such record; throwing means the
 * storage failed (Sotto then throws `STORE`, with what was thrown as
 * `cause`, and changes nothing else).
 *
 * Every method is synchronous: Sotto calls them in the middle of an
 * operation. Keep the records in memory, answer from there, and persist to
 * IndexedDB in the background (see the package README).
 *
 * **Warning:** the identity, prekey and session records hold secrets.
 */
export interface ProtocolStore {
  /** This device's identity record (`IdentityKeyPair.toRecordBytes()`). */
  localIdentity(): Uint8Array | null | undefined;
  peerIdentity(address: Address): Uint8Array | null | undefined;
  savePeerIdentity(address: Address, record: Uint8Array): void;
  signedPrekey(id: number): Uint8Array | null | undefined;
  saveSignedPrekey(id: number, record: Uint8Array): void;
  /** Absent is not an error. */
  removeSignedPrekey(id: number): void;
  oneTimePrekey(id: number): Uint8Array | null | undefined;
  saveOneTimePrekey(id: number, record: Uint8Array): void;
  /** Absent is not an error. */
  removeOneTimePrekey(id: number): void;
  loadSession(address: Address): Uint8Array | null | undefined;
  storeSession(address: Address, record: Uint8Array): void;
  /**
   * Optional: applies the writes of one handled message together (one
   * IndexedDB transaction). Without it Sotto calls `savePeerIdentity` (if
   * `newPeerIdentity`), `storeSession`, then `removeOneTimePrekey` (if
   * `consumedOneTimePrekey`), an order that is safe to interrupt.
   */
  commit?(writes: PendingWrites): void;
}
