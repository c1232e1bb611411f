"""Post-quantum sessions (PQXDH, ML-KEM-1024) through the binding: every new
session post-quantum on both sides, a classical bundle refused unless the app
opts in, one-time and last-resort KEM prekeys each starting a session once
(in a store written in Python), and a KEM prekey not signed by its bundle's
identity refused."""

import pytest

from sotto import (
    ClassicalSessions,
    Handshake,
    IdentityKeyPair,
    KemPreKeyPublic,
    PreKeyBundle,
    SessionManager,
    SottoError,
)

from helpers import ALICE, BOB, CAROL, MALLORY, DictStore, bundle_of, in_memory, send


def python_bob():
    store = DictStore(IdentityKeyPair.generate())
    return store, SessionManager.with_store(BOB, store)


def bundle_with(bob, kem):
    """`bob`'s bundle with `kem` as its KEM prekey, a new signed prekey of
    the same id, and no one-time prekey: only the KEM prekey is single-use."""
    signed = bob.generate_signed_prekey(kem.id)
    return PreKeyBundle(bob.identity_key(), signed, kem, None).to_bytes()


def test_a_session_is_post_quantum_on_both_sides():
    store, bob = python_bob()
    alice = in_memory(ALICE)
    assert alice.session_handshake(BOB) is None
    bundle = bundle_of(bob)
    assert PreKeyBundle.from_bytes(bundle).has_kem_prekey()
    alice.process_bundle(BOB, bundle)
    assert alice.session_handshake(BOB) == Handshake.PQXDH
    received = bob.decrypt(ALICE, alice.encrypt(BOB, b"hello"))
    assert received.started_session()
    received.commit()
    assert bob.session_handshake(ALICE) == Handshake.PQXDH
    assert alice.session_handshake(BOB).is_post_quantum()
    assert bob.session_handshake(ALICE).is_post_quantum()
    assert not Handshake.X3DH.is_post_quantum()
    assert send(bob, alice, b"reply") == b"reply"
    assert alice.classical_sessions() == ClassicalSessions.REFUSE


def test_a_classical_bundle_is_refused_unless_classical_sessions_are_allowed():
    alice, bob = in_memory(ALICE), in_memory(BOB)
    signed = bob.generate_signed_prekey(1)
    one_time = bob.generate_one_time_prekeys(100, 1)[0]
    classical = PreKeyBundle.classical(bob.identity_key(), signed, one_time).to_bytes()
    assert not PreKeyBundle.from_bytes(classical).has_kem_prekey()
    with pytest.raises(SottoError.ClassicalSessionRefused) as refused:
        alice.process_bundle(BOB, classical)
    assert refused.value.address == BOB
    assert not alice.has_session(BOB)

    # Allowed on Alice's side only: Bob refuses her first message.
    alice = alice.with_classical_sessions(ClassicalSessions.ALLOW)
    assert alice.classical_sessions() == ClassicalSessions.ALLOW
    alice.process_bundle(BOB, classical)
    assert alice.session_handshake(BOB) == Handshake.X3DH
    first = alice.encrypt(BOB, b"classical")
    with pytest.raises(SottoError.ClassicalSessionRefused) as refused:
        bob.decrypt(ALICE, first)
    assert refused.value.address == ALICE
    assert not bob.has_session(ALICE)

    # Allowed on both sides: a classical session, which says so.
    bob = bob.with_classical_sessions(ClassicalSessions.ALLOW)
    assert bob.decrypt_and_commit(ALICE, first) == b"classical"
    assert bob.session_handshake(ALICE) == Handshake.X3DH
    assert not bob.session_handshake(ALICE).is_post_quantum()
    assert send(bob, alice, b"reply") == b"reply"


def test_a_one_time_kem_prekey_starts_one_session_only():
    store, bob = python_bob()
    kem = bob.generate_kem_prekeys(40, 1)[0]
    assert kem.id == 40 and len(kem.key) == 1569 and len(kem.signature) == 64
    assert set(store.kem) == {40}
    bundle = bundle_with(bob, kem)
    alice, carol = in_memory(ALICE), in_memory(CAROL)
    alice.process_bundle(BOB, bundle)
    carol.process_bundle(BOB, bundle)
    first = alice.encrypt(BOB, b"first")

    received = bob.decrypt(ALICE, first)
    assert 40 in store.kem, "nothing is removed before the commit"
    received.commit()
    assert 40 not in store.kem, "the commit consumed the KEM prekey"
    assert store.committed[-1][0].consumed_kem_prekeys == [40]
    assert store.committed[-1][0].last_resort_uses == []
    assert bob.session_handshake(ALICE) == Handshake.PQXDH

    # The first message again: a duplicate in the session it started, and,
    # replayed as if from another address, an unknown KEM prekey.
    with pytest.raises(SottoError.DuplicateMessage):
        bob.decrypt(ALICE, first)
    with pytest.raises(SottoError.UnknownPreKey) as unknown:
        bob.decrypt(MALLORY, first)
    assert "KEM prekey with id 40" in unknown.value.reason
    # Carol used the same bundle: her first message is refused too.
    with pytest.raises(SottoError.UnknownPreKey):
        bob.decrypt(CAROL, carol.encrypt(BOB, b"too late"))
    assert not bob.has_session(CAROL) and not bob.has_session(MALLORY)


def test_a_last_resort_kem_prekey_serves_many_sessions_each_once():
    store, bob = python_bob()
    bundle = bundle_with(bob, bob.generate_last_resort_kem_prekey(5))
    firsts = []
    for address in (ALICE, CAROL):
        peer = in_memory(address)
        peer.process_bundle(BOB, bundle)
        first = peer.encrypt(BOB, address.account.encode())
        assert bob.decrypt_and_commit(address, first) == address.account.encode()
        assert bob.session_handshake(address) == Handshake.PQXDH
        firsts.append((address, first))
    assert 5 in store.kem, "a last-resort KEM prekey stays"
    uses = [used for writes in store.committed for used in writes[0].last_resort_uses]
    assert [used.kem_prekey for used in uses] == [5, 5]
    assert uses[0].base_key != uses[1].base_key and len(uses[0].base_key) == 32
    assert len(store.last_resort_uses) == 2

    # Each first message again, even as if from another address, is a
    # duplicate: its use of the last-resort prekey was recorded.
    for address, first in firsts:
        with pytest.raises(SottoError.DuplicateMessage):
            bob.decrypt(address, first)
        with pytest.raises(SottoError.DuplicateMessage):
            bob.decrypt(MALLORY, first)
    assert not bob.has_session(MALLORY)


def test_a_batch_commits_kem_prekey_consumption_with_its_sessions():
    store, bob = python_bob()
    one_time = bundle_with(bob, bob.generate_kem_prekeys(60, 1)[0])
    last_resort = bundle_with(bob, bob.generate_last_resort_kem_prekey(61))
    alice, carol = in_memory(ALICE), in_memory(CAROL)
    alice.process_bundle(BOB, one_time)
    carol.process_bundle(BOB, last_resort)
    from_alice, from_carol = alice.encrypt(BOB, b"alice"), carol.encrypt(BOB, b"carol")

    batch = bob.batch()
    assert batch.decrypt(ALICE, from_alice) == b"alice"
    assert batch.decrypt(CAROL, from_carol) == b"carol"
    commits = store.commits
    batch.commit()
    assert store.commits == commits + 1, "one store commit for the batch"
    writes = {write.address.account: write for write in store.committed[-1]}
    assert writes["alice"].consumed_kem_prekeys == [60]
    assert writes["alice"].last_resort_uses == []
    assert writes["carol"].consumed_kem_prekeys == []
    assert [used.kem_prekey for used in writes["carol"].last_resort_uses] == [61]
    assert 60 not in store.kem and 61 in store.kem

    again = bob.batch()
    with pytest.raises(SottoError.UnknownPreKey):
        again.decrypt(MALLORY, from_alice)
    with pytest.raises(SottoError.DuplicateMessage):
        again.decrypt(MALLORY, from_carol)
    assert again.is_empty()


def flipped(bundle, field):
    """`bundle` with one bit of `field`, found in it, flipped."""
    assert bundle.count(field) == 1
    at = bundle.find(field)
    return bundle[:at] + bytes([bundle[at] ^ 1]) + bundle[at + 1 :]


def test_a_kem_prekey_not_signed_by_the_bundles_identity_is_refused():
    alice, bob = in_memory(ALICE), in_memory(BOB)
    signed = bob.generate_signed_prekey(1)
    kem = bob.generate_kem_prekeys(9, 1)[0]
    good = PreKeyBundle(bob.identity_key(), signed, kem, None).to_bytes()

    # A byte of the KEM prekey's signature flipped in the bundle's bytes
    # (its offset found in them): the bundle parses, and is refused.
    tampered = PreKeyBundle.from_bytes(flipped(good, kem.signature))
    assert tampered.has_kem_prekey()
    with pytest.raises(SottoError.BadKemSignature):
        alice.process_bundle(BOB, tampered.to_bytes())
    assert not alice.has_session(BOB)

    # So is another identity's KEM prekey in Bob's bundle.
    foreign = in_memory(MALLORY).generate_last_resort_kem_prekey(9)
    with pytest.raises(SottoError.BadKemSignature):
        alice.process_bundle(BOB, PreKeyBundle(bob.identity_key(), signed, foreign, None).to_bytes())
    # The signed prekey's signature flipped is the other refusal.
    with pytest.raises(SottoError.InvalidBundle):
        alice.process_bundle(BOB, flipped(good, signed.signature))
    # A key that is no ML-KEM-1024 key is refused as an argument.
    not_a_key = KemPreKeyPublic(id=9, key=b"\x02" + kem.key[1:], signature=kem.signature)
    with pytest.raises(SottoError.InvalidArgument):
        PreKeyBundle(bob.identity_key(), signed, not_a_key, None)

    alice.process_bundle(BOB, good)
    assert alice.session_handshake(BOB) == Handshake.PQXDH
