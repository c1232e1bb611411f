"""Batches: many queued messages decrypted, then committed in one store
transaction."""

import pytest

from sotto import IdentityKeyPair, SessionManager, SottoError

from helpers import ALICE, BOB, CAROL, DictStore, connect, in_memory


def test_queued_messages_are_decrypted_and_committed_at_once():
    store = DictStore(IdentityKeyPair.generate())
    bob = SessionManager.with_store(BOB, store)
    alice, carol = in_memory(ALICE), in_memory(CAROL)
    connect(alice, bob, one_time_id=100)
    connect(carol, bob, signed_id=2, one_time_id=200)

    queued = [(ALICE, alice.encrypt(BOB, f"alice {n}".encode())) for n in range(50)]
    queued += [(CAROL, carol.encrypt(BOB, f"carol {n}".encode())) for n in range(50)]
    queued.sort(key=lambda item: item[1])  # interleaved, as a server may deliver them

    batch = bob.batch()
    assert batch.is_empty()
    commits = store.commits
    plaintexts = {batch.decrypt(sender, message) for sender, message in queued}
    assert plaintexts == {f"{who} {n}".encode() for who in ("alice", "carol") for n in range(50)}
    assert batch.len() == 100
    assert store.commits == commits, "nothing is stored before the commit"
    batch.commit()
    assert store.commits == commits + 1, "one store transaction for the whole batch"

    with pytest.raises(SottoError.AlreadyCommitted):
        batch.commit()
    with pytest.raises(SottoError.AlreadyCommitted):
        batch.decrypt(*queued[0])
    for sender, message in queued:
        with pytest.raises(SottoError.DuplicateMessage):
            bob.decrypt(sender, message)
    assert alice.decrypt_and_commit(BOB, bob.encrypt(ALICE, b"caught up")) == b"caught up"


def test_an_uncommitted_batch_stores_nothing():
    alice, bob = in_memory(ALICE), in_memory(BOB)
    connect(alice, bob)
    queued = [alice.encrypt(BOB, f"{n}".encode()) for n in range(5)]
    dropped = bob.batch()
    for message in queued:
        dropped.decrypt(ALICE, message)
    del dropped

    # A failed message changes nothing in the batch either.
    batch = bob.batch()
    with pytest.raises(SottoError.MalformedMessage):
        batch.decrypt(ALICE, b"not a message")
    assert [batch.decrypt(ALICE, message) for message in queued] == [b"0", b"1", b"2", b"3", b"4"]
    with pytest.raises(SottoError.DuplicateMessage):
        batch.decrypt(ALICE, queued[0])
    assert batch.len() == 5
    batch.commit()


def test_a_batch_is_stale_after_a_write_to_its_address():
    alice, bob = in_memory(ALICE), in_memory(BOB)
    connect(alice, bob)
    queued = [alice.encrypt(BOB, f"{n}".encode()) for n in range(3)]
    batch = bob.batch()
    for message in queued:
        batch.decrypt(ALICE, message)
    reply = bob.encrypt(ALICE, b"written in between")
    with pytest.raises(SottoError.StaleDecryption):
        batch.commit()

    # Decrypted again, in a new batch, from the newer state.
    again = bob.batch()
    assert [again.decrypt(ALICE, message) for message in queued] == [b"0", b"1", b"2"]
    again.commit()
    assert alice.decrypt_and_commit(BOB, reply) == b"written in between"
