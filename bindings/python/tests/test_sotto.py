"""Sotto through its Python binding: conversations, a store written in
Python, the persistent store, errors as exceptions, trust decisions, safety
numbers and group calls."""

import pytest

from sotto import (
    Address,
    CipherSuite,
    GroupCall,
    IdentityKeyPair,
    SafetyNumber,
    SessionManager,
    SottoError,
    SqliteStore,
    StoreError,
    generate_storage_key,
)

from helpers import ALICE, BOB, DictStore, bundle_of, connect, in_memory


def test_two_party_conversation_with_out_of_order_delivery():
    alice, bob = in_memory(ALICE), in_memory(BOB)
    connect(alice, bob)

    sent = [alice.encrypt(BOB, f"message {i}".encode()) for i in range(5)]
    for i in [3, 0, 4, 2, 1]:
        assert bob.decrypt_and_commit(ALICE, sent[i]) == f"message {i}".encode()

    # Both sides speak in turns, turning the DH ratchet, with a message of
    # the previous turn arriving late.
    late = bob.encrypt(ALICE, b"late")
    for turn in range(3):
        reply = bob.encrypt(ALICE, f"bob {turn}".encode())
        assert alice.decrypt_and_commit(BOB, reply) == f"bob {turn}".encode()
        answer = alice.encrypt(BOB, f"alice {turn}".encode())
        assert bob.decrypt_and_commit(ALICE, answer) == f"alice {turn}".encode()
    assert alice.decrypt_and_commit(BOB, late) == b"late"
    assert alice.has_session(BOB) and bob.has_session(ALICE)


def test_a_store_written_in_python():
    store = DictStore(IdentityKeyPair.generate())
    bob = SessionManager.with_store(BOB, store)
    alice = in_memory(ALICE)
    connect(alice, bob)

    # Bob's state lives in the Python store, as opaque records, each session
    # with its generation; every write went through commit.
    assert set(store.signed) == {1}
    assert store.one_time == {}, "the first message consumed the one-time prekey"
    assert store.kem == {}, "and the one-time KEM prekey"
    assert store.committed[0][0].consumed_kem_prekeys == [100]
    assert store.peers[("alice", 1)]
    generation, record = store.sessions[("alice", 1)]
    assert generation > 0 and record
    assert store.commits == 2, "the first message's commit, then the reply's encryption"

    # A message is not stored until committed: it decrypts again.
    message = alice.encrypt(BOB, b"handle me once")
    commits_before = store.commits
    uncommitted = bob.decrypt(ALICE, message)
    assert uncommitted.plaintext() == b"handle me once"
    assert store.commits == commits_before
    again = bob.decrypt(ALICE, message)
    again.commit()
    assert store.commits == commits_before + 1
    with pytest.raises(SottoError.AlreadyCommitted):
        again.commit()
    with pytest.raises(SottoError.DuplicateMessage):
        bob.decrypt(ALICE, message)
    # The copy decrypted before that commit is stale: committing it would undo it.
    with pytest.raises(SottoError.StaleDecryption):
        uncommitted.commit()

    # So is a decryption with an encryption to the same address in between:
    # its commit would make the next encryption reuse a message key.
    pending = bob.decrypt(ALICE, alice.encrypt(BOB, b"pending"))
    first = bob.encrypt(ALICE, b"x1")
    with pytest.raises(SottoError.StaleDecryption):
        pending.commit()
    second = bob.encrypt(ALICE, b"x2")
    assert alice.decrypt_and_commit(BOB, first) == b"x1"
    assert alice.decrypt_and_commit(BOB, second) == b"x2"

    # A second manager over the same store carries the session on.
    bob_again = SessionManager.with_store(BOB, store)
    assert bob_again.decrypt_and_commit(ALICE, alice.encrypt(BOB, b"after restart")) == b"after restart"
    assert alice.decrypt_and_commit(BOB, bob_again.encrypt(ALICE, b"still here")) == b"still here"


def test_the_persistent_store_keeps_sessions_across_restarts(tmp_path):
    path = str(tmp_path / "bob.sqlite")
    key = generate_storage_key()
    identity = IdentityKeyPair.generate()
    store = SqliteStore.create(path, key, identity)
    bob = SessionManager.with_sqlite_store(BOB, store)
    alice = in_memory(ALICE)
    connect(alice, bob)
    assert store.one_time_prekey_count() == 0
    assert store.kem_prekey_count() == 0
    del bob, store

    reopened = SqliteStore.open(path, key)
    bob = SessionManager.with_sqlite_store(BOB, reopened)
    assert bob.identity_key() == identity.public_key()
    assert bob.decrypt_and_commit(ALICE, alice.encrypt(BOB, b"after restart")) == b"after restart"

    with pytest.raises(SottoError.WrongStorageKey):
        SqliteStore.open(path, generate_storage_key())
    with pytest.raises(SottoError.InvalidArgument):
        SqliteStore.open(path, b"short key")
    with pytest.raises(SottoError.Store):
        SqliteStore.create(path, key, identity)


def test_store_failures_arrive_as_store_errors():
    store = DictStore(IdentityKeyPair.generate())
    bob = SessionManager.with_store(BOB, store)
    alice = in_memory(ALICE)
    connect(alice, bob)
    message = alice.encrypt(BOB, b"during an outage")

    store.fail_with = StoreError.Backend("disk full")
    with pytest.raises(SottoError.Store) as raised:
        bob.decrypt(ALICE, message)
    assert "disk full" in raised.value.reason

    # An exception that is not a StoreError is a store failure too.
    store.fail_with = RuntimeError("database locked")
    with pytest.raises(SottoError.Store) as raised:
        bob.encrypt(ALICE, b"x")
    assert "database locked" in raised.value.reason

    # A failed commit leaves the message committable once the store is back.
    store.fail_with = None
    received = bob.decrypt(ALICE, message)
    store.fail_with = StoreError.Backend("disk full")
    with pytest.raises(SottoError.Store):
        received.commit()
    store.fail_with = None
    received.commit()
    assert received.plaintext() == b"during an outage"


def test_a_corrupt_record_is_refused():
    store = DictStore(IdentityKeyPair.generate())
    bob = SessionManager.with_store(BOB, store)
    alice = in_memory(ALICE)
    connect(alice, bob)
    generation, _ = store.sessions[("alice", 1)]
    store.sessions[("alice", 1)] = (generation, b"\xff\x00 not a record")
    with pytest.raises(SottoError.CorruptRecord):
        bob.encrypt(ALICE, b"x")


def test_typed_errors_arrive_as_exceptions():
    alice, bob = in_memory(ALICE), in_memory(BOB)
    with pytest.raises(SottoError.NoSession):
        alice.encrypt(BOB, b"no session yet")
    connect(alice, bob)

    with pytest.raises(SottoError.MalformedMessage):
        bob.decrypt(ALICE, b"\x00garbage")

    message = alice.encrypt(BOB, b"once")
    tampered = bytearray(message)
    tampered[-1] ^= 1
    with pytest.raises(SottoError.AuthenticationFailed):
        bob.decrypt(ALICE, bytes(tampered))

    assert bob.decrypt_and_commit(ALICE, message) == b"once"
    with pytest.raises(SottoError.DuplicateMessage) as replay:
        bob.decrypt(ALICE, message)
    assert replay.value.counter >= 0
    assert isinstance(replay.value, SottoError)

    with pytest.raises(SottoError.InvalidBundle):
        alice.process_bundle(BOB, b"\x01\x02 not a bundle")
    with pytest.raises(SottoError.InvalidArgument):
        alice.encrypt(Address(account="", device=1), b"x")
    with pytest.raises(SottoError.InvalidArgument):
        alice.trust_identity(BOB, b"short", False)
    with pytest.raises(SottoError.CorruptRecord):
        IdentityKeyPair.from_record_bytes(b"\xff\xff")


def test_identity_change_is_refused_until_trusted():
    alice, bob = in_memory(ALICE), in_memory(BOB)
    connect(alice, bob)

    # Bob reinstalls: a new identity key under the same address.
    new_bob = in_memory(BOB)
    new_bundle = bundle_of(new_bob)
    with pytest.raises(SottoError.UntrustedIdentity) as changed:
        alice.process_bundle(BOB, new_bundle)
    assert changed.value.address == BOB
    assert changed.value.identity_key == new_bob.identity_key()

    # A first message from the new Bob is refused the same way.
    new_bob.process_bundle(ALICE, bundle_of(alice, signed_id=2, one_time_id=200))
    with pytest.raises(SottoError.UntrustedIdentity):
        alice.decrypt(BOB, new_bob.encrypt(ALICE, b"it's me, really"))

    # The user accepts the new key: the sessions with the old one are
    # dropped, and the old device's messages are refused from now on.
    old_message = bob.encrypt(ALICE, b"from the old install")
    alice.trust_identity(BOB, changed.value.identity_key, False)
    assert not alice.has_session(BOB)
    with pytest.raises(SottoError.NoSession):
        alice.decrypt(BOB, old_message)
    alice.process_bundle(BOB, new_bundle)
    assert new_bob.decrypt_and_commit(ALICE, alice.encrypt(BOB, b"welcome back")) == b"welcome back"


def test_a_trust_decision_makes_pending_decryptions_stale():
    alice, bob = in_memory(ALICE), in_memory(BOB)
    connect(alice, bob)
    pending = alice.decrypt(BOB, bob.encrypt(ALICE, b"decided before the trust"))
    alice.trust_identity(BOB, bob.identity_key(), True)
    with pytest.raises(SottoError.StaleDecryption):
        pending.commit()
    assert alice.decrypt_and_commit(BOB, bob.encrypt(ALICE, b"after")) == b"after"


def test_a_store_that_lost_an_identity_refuses_the_address_until_trusted():
    store = DictStore(IdentityKeyPair.generate())
    bob = SessionManager.with_store(BOB, store)
    alice = in_memory(ALICE)
    connect(alice, bob)

    del store.peers[("alice", 1)]
    with pytest.raises(SottoError.PeerIdentityMissing) as missing:
        bob.encrypt(ALICE, b"x")
    assert missing.value.address == ALICE
    with pytest.raises(SottoError.PeerIdentityMissing):
        bob.decrypt(ALICE, alice.encrypt(BOB, b"y"))

    # The user confirms Alice's key (say, by comparing safety numbers).
    bob.trust_identity(ALICE, alice.identity_key(), True)
    assert alice.decrypt_and_commit(BOB, bob.encrypt(ALICE, b"back")) == b"back"


def test_safety_numbers_agree_on_both_sides():
    alice, bob = in_memory(ALICE), in_memory(BOB)
    assert alice.safety_number(BOB) is None
    connect(alice, bob)
    on_alice, on_bob = alice.safety_number(BOB), bob.safety_number(ALICE)
    assert on_alice.displayable() == on_bob.displayable()
    assert len(on_alice.displayable()) == 60
    assert len(on_alice.grouped().split()) == 12
    assert on_bob.matches_scanned(on_alice.scannable())
    direct = SafetyNumber(ALICE, alice.identity_key(), BOB, bob.identity_key())
    assert direct.displayable() == on_alice.displayable()
    with pytest.raises(SottoError.InvalidArgument):
        on_bob.matches_scanned(b"\x00" * 3)


def test_group_call_sender_keys_over_dm_sessions():
    alice, bob = in_memory(ALICE), in_memory(BOB)
    connect(alice, bob)
    call_id, suite = b"standup-42", CipherSuite.CHA_CHA20_POLY1305_SHA256_128
    on_alice, on_bob = GroupCall(call_id, suite, 1, 0), GroupCall(call_id, suite, 2, 0)

    # Each sends its sender key inside the DM session.
    key = bob.decrypt_and_commit(ALICE, alice.encrypt(BOB, on_alice.sender_key_message()))
    assert on_bob.receive_sender_key(1, key).participant == 1
    key = alice.decrypt_and_commit(BOB, bob.encrypt(ALICE, on_bob.sender_key_message()))
    on_alice.receive_sender_key(2, key)
    assert on_alice.participants() == [1, 2]
    assert on_bob.decrypt(b"", on_alice.encrypt(b"", b"frame")) == b"frame"
    with pytest.raises(SottoError.SenderKeyRejected):
        on_alice.receive_sender_key(2, key)

    # Carol joins: Alice's key ratchets; Carol gets the new step only.
    on_carol = GroupCall(call_id, suite, 3, 0)
    on_carol.receive_sender_key(1, on_alice.participant_joined(3))
    frame = on_alice.encrypt(b"", b"step 1")
    assert on_alice.key_id().step == 1
    assert on_carol.decrypt(b"", frame) == b"step 1"
    assert on_bob.decrypt(b"", frame) == b"step 1"

    # Bob leaves: Alice moves to epoch 1; Bob cannot read her frames.
    on_carol.receive_sender_key(1, on_alice.participant_left(2))
    assert on_alice.epoch() == 1
    frame = on_alice.encrypt(b"", b"epoch 1")
    assert on_carol.decrypt(b"", frame) == b"epoch 1"
    with pytest.raises(SottoError.FrameRejected):
        on_bob.decrypt(b"", frame)
    with pytest.raises(SottoError.InvalidArgument):
        on_alice.participant_joined(1)
