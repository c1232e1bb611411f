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

/** The public half of a KEM prekey (PQXDH, ML-KEM-1024), as uploaded to
 *  the server: a one-time one (`generateKemPrekeys`) or the device's
 *  last-resort one (`generateLastResortKemPrekey`). Which of the two it is
 *  is known only to the device: it is neither signed nor sent. */
export interface KemPreKeyPublic {
  /** The prekey's id (KEM prekeys have ids of their own, apart from
   *  signed and one-time prekeys). */
  id: number;
  /** The encoded ML-KEM-1024 public key, `EncodeKEM(key)`: the type byte
   *  0x01 and the 1568-byte encapsulation key, 1569 bytes. */
  key: Uint8Array;
  /** Ed25519 signature by the identity key over the id and the encoded
   *  key, 64 bytes. */
  signature: Uint8Array;
}

/** Which key agreement made a session (`SessionManager.sessionHandshake`):
 *  `"PQXDH"` (post-quantum, with ML-KEM-1024: recorded traffic resists a
 *  future quantum computer) or `"X3DH"` (classical: made only where the
 *  app allowed classical sessions, or stored before Sotto made every new
 *  session post-quantum). More may be added. */
export type Handshake = "PQXDH" | "X3DH";

/** Whether a `SessionManager` starts and accepts classical (X3DH)
 *  sessions (`withClassicalSessions`): `"REFUSE"`, the default, refuses a
 *  bundle without a KEM prekey and a first message without a KEM
 *  ciphertext with `CLASSICAL_SESSION_REFUSED`, so that a server cannot
 *  silently downgrade a session; `"ALLOW"` accepts them, for peers whose
 *  devices publish no KEM prekeys (show the user which conversations are
 *  classical). Sessions already stored keep working either way. */
export type ClassicalSessions = "REFUSE" | "ALLOW";

/**
 * The stable `code` of every error Sotto throws, or rejects a `Promise`
 * with. Codes are never renamed; new ones may be added.
 *
 * - `INVALID_ARGUMENT`: an argument is unusable (a bad address, key, id,
 *   cipher suite, call id, scanned safety number, or a store object that
 *   lacks a method).
 * - `INVALID_BUNDLE`: a prekey bundle is malformed (a key that is not one,
 *   an ML-KEM key that fails its modulus check included), of another
 *   version, or its signed prekey is not signed by its identity key.
 * - `BAD_KEM_SIGNATURE`: a prekey bundle's KEM prekey is not signed by the
 *   bundle's identity key: the server, or someone between, replaced it,
 *   which would break the session's post-quantum protection. Nothing was
 *   stored; do not retry with the same bundle.
 * - `CLASSICAL_SESSION_REFUSED`: the session with `error.address` would be
 *   classical (X3DH), not post-quantum: its bundle has no KEM prekey, or
 *   its first message no KEM ciphertext, and the manager refuses classical
 *   sessions (the default). Nothing was stored. Either the peer's device
 *   publishes no KEM prekeys (an earlier Sotto), or something between
 *   stripped them; an app that must reach such devices opts in with
 *   `manager.withClassicalSessions("ALLOW")`.
 * - `MALFORMED_MESSAGE`: a received message, call offer or call answer is
 *   not well-formed (too large, not protobuf, another wire version, bad
 *   header, a field out of range).
 * - `NO_SESSION`: no session with the address, or none that the message
 *   belongs to: process the peer's bundle first.
 * - `STALE_DECRYPTION`: `commit()` after the session was written since the
 *   decryption (an `encrypt` to the address, another commit, a trust
 *   decision, another manager on the same store): nothing was stored;
 *   decrypt the message again. What a lost compare-and-swap (a store's
 *   `CONFLICT`) is for a commit of decrypted messages.
 * - `CONFLICT`: a store's compare-and-swap was lost for `error.address` (its
 *   state changed since it was loaded), where no code above applies: the
 *   manager retries encryptions and new sessions by itself (`CONTENDED` if
 *   that keeps failing), and a commit of decrypted messages reports
 *   `STALE_DECRYPTION`. (The uniffi bindings report it as `Contended`.)
 * - `CONTENDED`: another writer on the same store kept changing the session
 *   of `error.address` for `error.attempts` attempts in a row: nothing was
 *   stored or handed out; try again.
 * - `REENTRANT_CALL`: a store called back into the manager (or a batch) for
 *   the address (or batch) being changed: a store must not do that. (The
 *   uniffi bindings report it as `Internal`.)
 * - `PEER_IDENTITY_MISSING`: the store has sessions with `error.address`
 *   but no identity recorded for it (it lost that record): refused rather
 *   than trusting a key on first use again, until the user confirms the
 *   peer's identity and the app calls `trustIdentity`.
 * - `NO_LOCAL_IDENTITY`: the store has no identity key pair.
 * - `UNTRUSTED_IDENTITY`: `error.address` presented another identity key
 *   (`error.identityKey`) than the one recorded. Show the change; once the
 *   user accepts it, call `trustIdentity(address, identityKey, ...)`.
 * - `UNKNOWN_PREKEY`: a first message names a signed, one-time or KEM
 *   prekey this device does not have (never made, removed, or already used:
 *   a one-time KEM prekey starts one session only).
 * - `CALL_SIGNAL_REJECTED`: a 1:1 call's offer or answer was refused: an
 *   offer naming other identity keys than the DM session it arrived in
 *   (made for another device, or the two sides know different keys), an
 *   offer this manager accepted before (a replay: a restarted caller sends
 *   a new offer), an answer that does not answer this call's offer (an
 *   earlier offer's, another call's, another device's: the `OutgoingCall`
 *   still waits for its own). Drop the signal; `message` says which.
 * - `DUPLICATE_MESSAGE`: message `error.counter` was already decrypted and
 *   committed (a first message whose use of the last-resort KEM prekey is
 *   recorded included, from whichever address): an app that commits before
 *   acknowledging treats it as "already have it" and acknowledges.
 * - `LIMIT_EXCEEDED`: a plaintext over the size limit, a message too far
 *   ahead in its chain, an exhausted message or frame counter.
 * - `AUTHENTICATION_FAILED`: a message or frame was altered, or is not
 *   meant for this session or key (a frame under the keys of an earlier
 *   call agreement included).
 * - `KEY_AGREEMENT_FAILED`: PQXDH (or X3DH), the ratchet or a call's key
 *   agreement refused a key (small order).
 * - `FRAME_REJECTED`: an SFrame frame with a malformed header, an unknown
 *   key id, or too short to hold a tag.
 * - `FRAME_REPLAYED`: an SFrame frame already received, or older than the
 *   replay window.
 * - `CORRUPT_RECORD`: a stored record cannot be loaded.
 * - `STORE`: the store failed; for a JS store that threw, or a write whose
 *   `Promise` rejected, `error.cause` is what it threw or rejected with.
 *   After a rejected write, stop using the manager and reload the store:
 *   its memory is ahead of its disk.
 * - `ALREADY_COMMITTED`: `commit()` again on a message after it
 *   succeeded, or a `DecryptBatch` used after its `commit()` (whatever
 *   its outcome: a batch commits once).
 * - `ALREADY_USED`: an object whose one use is over: an `OutgoingCall` that
 *   accepted its answer, a `OneToOneCall` whose keys were taken.
 * - `CONFORMANCE_FAILED`: `checkStoreConformance` found that the store
 *   breaks the commit contract: `error.check` names the rule,
 *   `error.detail` what happened.
 * - `INTERNAL`: a failure this version has no code for.
 */
export type ErrorCode =
  | "INVALID_ARGUMENT"
  | "INVALID_BUNDLE"
  | "BAD_KEM_SIGNATURE"
  | "CLASSICAL_SESSION_REFUSED"
  | "MALFORMED_MESSAGE"
  | "NO_SESSION"
  | "STALE_DECRYPTION"
  | "CONFLICT"
  | "CONTENDED"
  | "REENTRANT_CALL"
  | "PEER_IDENTITY_MISSING"
  | "NO_LOCAL_IDENTITY"
  | "UNTRUSTED_IDENTITY"
  | "UNKNOWN_PREKEY"
  | "CALL_SIGNAL_REJECTED"
  | "DUPLICATE_MESSAGE"
  | "LIMIT_EXCEEDED"
  | "AUTHENTICATION_FAILED"
  | "KEY_AGREEMENT_FAILED"
  | "FRAME_REJECTED"
  | "FRAME_REPLAYED"
  | "CORRUPT_RECORD"
  | "STORE"
  | "ALREADY_COMMITTED"
  | "ALREADY_USED"
  | "CONFORMANCE_FAILED"
  | "INTERNAL";

/** What every Sotto function throws (or rejects with): an `Error` named
 *  `"SottoError"`. Whatever the error, no store changed, except after a
 *  `STORE` whose `cause` is a rejected write (see `ErrorCode`). */
export interface SottoError extends Error {
  name: "SottoError";
  code: ErrorCode;
  /** `UNTRUSTED_IDENTITY`: the address that presented a new key;
   *  `CONFLICT`, `CONTENDED`, `PEER_IDENTITY_MISSING`,
   *  `CLASSICAL_SESSION_REFUSED`: the address. */
  address?: Address;
  /** `UNTRUSTED_IDENTITY`: the identity key it presented (32 bytes). */
  identityKey?: Uint8Array;
  /** `DUPLICATE_MESSAGE`: the message's index in its chain. */
  counter?: number;
  /** `CONTENDED`: how many attempts were made. */
  attempts?: number;
  /** `CONFORMANCE_FAILED`: the rule of the commit contract the store
   *  broke. */
  check?: string;
  /** `CONFORMANCE_FAILED`: what was expected and what happened. */
  detail?: string;
  /** `STORE`: what the JS store threw, or what its write's `Promise`
   *  rejected with. */
  cause?: unknown;
}

/**
 * One write of a `ProtocolStore.commit` batch: the new state of one
 * address, computed from the state stored at generation
 * `expectedGeneration`.
 */
export interface StoreWrite {
  address: Address;
  /** The generation of the session of `address` this write was computed
   *  from, which must still be the stored one; `null`: no session may be
   *  stored for `address`. */
  expectedGeneration: bigint | null;
  /** The generation of `session`, to store beside it (the generation
   *  the next write of `address` expects). Never equal to
   *  `expectedGeneration`. */
  generation: bigint;
  /** The session record to store for `address` (opaque). */
  session: Uint8Array;
  /** An identity record to store for `address` (opaque), or `null`. */
  peerIdentity: Uint8Array | null;
  /** `true`: `peerIdentity` is trusted on first use: store it if no
   *  identity is stored for `address`, keep the stored one if it is the
   *  same bytes, and refuse the batch (`CONFLICT`) if another one is
   *  stored. `false`: `peerIdentity` (if not `null`) replaces whatever is
   *  stored (the user's decision). */
  peerIdentityFirstUse: boolean;
  /** One-time prekeys this write consumed: each must still be stored
   *  (otherwise `CONFLICT`), and is removed. */
  consumedOneTimePrekeys: number[];
  /** One-time KEM prekeys this write consumed (a PQXDH first message):
   *  each must still be stored (otherwise `CONFLICT`), and is removed. */
  consumedKemPrekeys: number[];
  /** Uses of last-resort KEM prekeys this write makes (a PQXDH first
   *  message that named one): for each, the KEM prekey must still be
   *  stored and the use (the pair of id and base key) not be recorded yet
   *  (otherwise `CONFLICT`); each is recorded, and kept until its KEM
   *  prekey is removed, so that a replay of the first message cannot start
   *  a second session. */
  lastResortUses: LastResortUse[];
}

/** A session started with a last-resort KEM prekey, as `StoreWrite`
 *  carries it and `ProtocolStore.lastResortUseRecorded` asks for it. */
export interface LastResortUse {
  /** The id of the last-resort KEM prekey. */
  kemPrekey: number;
  /** The base key of the first message that used it (the initiator's
   *  ephemeral X25519 key, 32 bytes). */
  baseKey: Uint8Array;
}

/** What a store's `commit` throws when a check of the batch fails: any
 *  object (an `Error`, say) whose `code` is `"CONFLICT"`; `address` may
 *  name the write that failed. */
export interface StoreConflict {
  code: "CONFLICT";
  address?: Address;
}

/**
 * A store the app implements (over IndexedDB, say). Records are opaque
 * bytes: keep each as given and return it unchanged.
 *
 * **Reads are synchronous**: Sotto calls them in the middle of an
 * operation. A getter returns the record, or `null` or `undefined` when
 * there is none; throwing means the storage failed (Sotto then throws or
 * rejects with `STORE`, with what was thrown as `cause`, and changes
 * nothing else). Answer them from memory: load every record at start-up.
 *
 * **Writes** (`commit`, `saveSignedPrekey`, `saveOneTimePrekey`,
 * `saveKemPrekey`, `removeSignedPrekey`, `removeOneTimePrekey`,
 * `removeKemPrekey`) change the store's state at
 * once, before they return: every read after them sees the change. Each
 * may return a `Promise` that resolves once the change is durable (on
 * disk), or `undefined` if there is nothing to wait for (a store that
 * persists nothing, or persists before returning). Sotto resolves the
 * call that made the write (an `encrypt`, say) only after that `Promise`
 * resolved, and rejects it with `STORE` if it rejected. Persist the
 * changes in the order they were made (IndexedDB runs the read-write
 * transactions of one object store in order).
 *
 * **`commit(writes)` is a compare-and-swap**, and the only write of
 * sessions and peer identities. For the batch `writes` (at most one per
 * address), it must, synchronously:
 *
 * 1. check every write: the generation stored for `address` is
 *    `expectedGeneration` (`null`: no session is stored for `address`); if
 *    `peerIdentityFirstUse`, no identity is stored for `address`, or the
 *    same bytes as `peerIdentity`; every id of `consumedOneTimePrekeys` is
 *    stored as a one-time prekey, every id of `consumedKemPrekeys` as a
 *    KEM prekey; for every use of `lastResortUses`, its `kemPrekey` is
 *    stored and the use is not recorded; and no two writes of the batch
 *    consume the same prekey or record the same use. If any check fails,
 *    change nothing and throw a `StoreConflict` (an object with
 *    `code: "CONFLICT"`, for instance
 *    `Object.assign(new Error("conflict"), { code: "CONFLICT" })`);
 * 2. otherwise apply every write: store `peerIdentity` (first use: only if
 *    none is stored; otherwise always), store `session` with its
 *    `generation` beside it, remove the `consumedOneTimePrekeys` and the
 *    `consumedKemPrekeys`, record each of `lastResortUses` (until
 *    `removeKemPrekey` of its prekey);
 * 3. persist all of it as one transaction (all or nothing after a crash),
 *    returning a `Promise` of its completion.
 *
 * This is what keeps every message key single-use: two writes computed
 * from one generation can never both be applied; and every KEM prekey use:
 * a one-time KEM prekey starts one session, a last-resort one each first
 * message once. Test a store with
 * `checkStoreConformance` (on an empty instance).
 *
 * One store object per database, and one tab owning it at a time (the Web
 * Locks API): two tabs with their own memory of one database would each
 * compare against their own state, and reuse message keys.
 *
 * **Warning:** the identity, prekey and session records hold secrets.
 */
export interface ProtocolStore {
  /** This device's identity record (`IdentityKeyPair.toRecordBytes()`). */
  localIdentity(): Uint8Array | null | undefined;
  /** The identity record stored for `address`. */
  peerIdentity(address: Address): Uint8Array | null | undefined;
  signedPrekey(id: number): Uint8Array | null | undefined;
  saveSignedPrekey(id: number, record: Uint8Array): void | Promise<unknown>;
  /** Absent is not an error. */
  removeSignedPrekey(id: number): void | Promise<unknown>;
  oneTimePrekey(id: number): Uint8Array | null | undefined;
  saveOneTimePrekey(id: number, record: Uint8Array): void | Promise<unknown>;
  /** Absent is not an error. */
  removeOneTimePrekey(id: number): void | Promise<unknown>;
  /** The KEM prekey record with `id` (one-time or last-resort: the record
   *  says which). */
  kemPrekey(id: number): Uint8Array | null | undefined;
  /** Stores (or replaces) the KEM prekey record with `id`. */
  saveKemPrekey(id: number, record: Uint8Array): void | Promise<unknown>;
  /** Removes the KEM prekey record with `id` (absent is not an error), and
   *  forgets every last-resort use recorded for `id`. Sotto removes one-time
   *  KEM prekeys through `commit`; the app calls this when it rotates its
   *  last-resort KEM prekey, after a grace period for messages in flight. */
  removeKemPrekey(id: number): void | Promise<unknown>;
  /** Whether a `commit` recorded the use of last-resort KEM prekey `id`
   *  with `baseKey` (32 bytes), and `removeKemPrekey(id)` was not called
   *  since: `true` or `false`, synchronously. */
  lastResortUseRecorded(id: number, baseKey: Uint8Array): boolean;
  /** The session record stored for `address`. */
  loadSession(address: Address): Uint8Array | null | undefined;
  /** Applies `writes` all or nothing, as a compare-and-swap on each
   *  address's generation (see above); throws a `StoreConflict` if a check
   *  fails. */
  commit(writes: StoreWrite[]): void | Promise<unknown>;
}

/** What `SessionManager.offerCall` returns. */
export interface OfferedCall {
  /** The call, waiting for its answer. */
  call: OutgoingCall;
  /** The offer, to send to the callee as the plaintext of `encrypt`. */
  offer: Uint8Array;
}

/** What `SessionManager.acceptCall` returns. */
export interface AcceptedCall {
  /** The agreed call. */
  call: OneToOneCall;
  /** The answer, to send to the caller as the plaintext of `encrypt`. */
  answer: Uint8Array;
}

/** A 1:1 call's two directions, from `OneToOneCall.intoKeys()`, for a
 *  media stack with its own SFrame. **Warning:** the base keys are
 *  secrets; make one sender from the send key, for this call only. */
export interface OneToOneCallKeys {
  sendKid: bigint;
  sendBaseKey: Uint8Array;
  receiveKid: bigint;
  receiveBaseKey: Uint8Array;
}
