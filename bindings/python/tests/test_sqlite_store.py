"""The SDK's persistent store through the binding: its write counter as a
rollback anchor, rekeying, legacy rows, and last-resort KEM prekey uses."""

import pytest

from sotto import (
    IdentityKeyPair,
    PreKeyBundle,
    SessionManager,
    SottoError,
    SqliteStore,
    generate_storage_key,
)

from helpers import ALICE, BOB, MALLORY, connect, in_memory, send


def sqlite_bob(tmp_path):
    path = str(tmp_path / "bob.sqlite")
    key = generate_storage_key()
    store = SqliteStore.create(path, key, IdentityKeyPair.generate())
    return path, key, store, SessionManager.with_sqlite_store(BOB, store)


def test_a_rekeyed_store_opens_with_the_new_key_only(tmp_path):
    path, old_key, store, bob = sqlite_bob(tmp_path)
    alice = in_memory(ALICE)
    connect(alice, bob)
    identity = bob.identity_key()

    new_key = generate_storage_key()
    with pytest.raises(SottoError.InvalidArgument):
        store.rekey(b"too short")
    store.rekey(new_key)
    # The handle that rekeyed goes on under the new key.
    assert bob.decrypt_and_commit(ALICE, alice.encrypt(BOB, b"during")) == b"during"
    del bob, store

    with pytest.raises(SottoError.WrongStorageKey):
        SqliteStore.open(path, old_key)
    reopened = SessionManager.with_sqlite_store(BOB, SqliteStore.open(path, new_key))
    assert reopened.identity_key() == identity
    assert reopened.decrypt_and_commit(ALICE, alice.encrypt(BOB, b"after")) == b"after"
    assert alice.decrypt_and_commit(BOB, reopened.encrypt(ALICE, b"reply")) == b"reply"


def test_the_write_counter_anchors_the_file_against_a_rollback(tmp_path):
    path, key, store, bob = sqlite_bob(tmp_path)
    before = store.write_counter()
    connect(in_memory(ALICE), bob)
    anchor = store.write_counter()
    assert anchor > before
    del bob, store

    assert SqliteStore.open_anchored(path, key, anchor).write_counter() == anchor
    # An anchor newer than the file: the file is an older copy of itself.
    with pytest.raises(SottoError.StoreTampered):
        SqliteStore.open_anchored(path, key, anchor + 1)
    with pytest.raises(SottoError.WrongStorageKey):
        SqliteStore.open_anchored(path, generate_storage_key(), anchor)


def test_a_new_store_has_no_legacy_rows(tmp_path):
    _, _, store, bob = sqlite_bob(tmp_path)
    connect(in_memory(ALICE), bob)
    assert store.upgrade_legacy_rows([ALICE, BOB]) == 0
    with pytest.raises(SottoError.InvalidArgument):
        store.upgrade_legacy_rows([ALICE.__class__(account="", device=1)])


def test_last_resort_uses_persist_until_the_kem_prekey_is_rotated(tmp_path):
    path, key, store, bob = sqlite_bob(tmp_path)
    signed = bob.generate_signed_prekey(1)
    last_resort = bob.generate_last_resort_kem_prekey(5)
    alice = in_memory(ALICE)
    alice.process_bundle(BOB, PreKeyBundle(bob.identity_key(), signed, last_resort, None).to_bytes())
    first = alice.encrypt(BOB, b"first")
    assert bob.decrypt_and_commit(ALICE, first) == b"first"
    assert store.kem_prekey_count() == 1, "a last-resort KEM prekey stays"
    del bob, store

    # Reopened, the store still knows the first message's use of it.
    store = SqliteStore.open(path, key)
    bob = SessionManager.with_sqlite_store(BOB, store)
    with pytest.raises(SottoError.DuplicateMessage):
        bob.decrypt(MALLORY, first)

    # Rotation: a new last-resort KEM prekey, the old one removed with its uses.
    bob.generate_last_resort_kem_prekey(6)
    assert store.kem_prekey_count() == 2
    store.remove_kem_prekey(5)
    assert store.kem_prekey_count() == 1
    with pytest.raises(SottoError.UnknownPreKey):
        bob.decrypt(MALLORY, first)
    assert send(alice, bob, b"still here") == b"still here"
