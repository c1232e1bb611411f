"""Many threads encrypting to one peer through one manager: every message
must use its own key (the key-reuse bug of load, change, store without a
compare-and-swap), so the receiver decrypts each one exactly once."""

import threading

import pytest

from sotto import IdentityKeyPair, SessionManager, SottoError, SqliteStore, generate_storage_key

from helpers import ALICE, BOB, DictStore, connect, in_memory

THREADS = 8
EACH = 200


def senders(kind, tmp_path):
    """The managers Alice's threads encrypt through, all over one store."""
    if kind == "in-memory store":
        return [in_memory(ALICE)]
    if kind == "sqlite store":
        path = str(tmp_path / "alice.sqlite")
        store = SqliteStore.create(path, generate_storage_key(), IdentityKeyPair.generate())
        return [SessionManager.with_sqlite_store(ALICE, store)]
    # Two managers over one Python store: only the store's compare-and-swap
    # keeps them apart.
    store = DictStore(IdentityKeyPair.generate())
    return [SessionManager.with_store(ALICE, store) for _ in range(2)]


def encrypt_retrying(manager, plaintext):
    """Encrypts to Bob, trying again while another manager over the same
    store keeps winning the compare-and-swap (`Contended`: nothing was
    stored or handed out), as an app does."""
    while True:
        try:
            return manager.encrypt(BOB, plaintext)
        except SottoError.Contended:
            continue


@pytest.mark.parametrize("kind", ["in-memory store", "sqlite store", "python store, two managers"])
def test_threads_encrypting_to_one_peer_never_reuse_a_key(kind, tmp_path):
    managers = senders(kind, tmp_path)
    bob = in_memory(BOB)
    connect(managers[0], bob)

    sent = []  # in the order encryptions returned: close to the chain's
    lock = threading.Lock()
    failures = []
    start = threading.Barrier(THREADS)

    def encrypt(thread):
        manager = managers[thread % len(managers)]
        try:
            start.wait()
            for n in range(EACH):
                message = encrypt_retrying(manager, f"{thread}:{n}".encode())
                with lock:
                    sent.append(message)
        except Exception as error:  # reported below, in the test's thread
            failures.append(error)

    threads = [threading.Thread(target=encrypt, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert len(sent) == THREADS * EACH
    assert len(set(sent)) == len(sent)

    # Every envelope decrypts, each to its own plaintext: two encryptions
    # under one message key would make the second a duplicate.
    received = [bob.decrypt_and_commit(ALICE, message) for message in sent]
    assert len(set(received)) == THREADS * EACH
    assert set(received) == {f"{t}:{n}".encode() for t in range(THREADS) for n in range(EACH)}
    # And exactly once.
    for message in sent:
        with pytest.raises(SottoError.DuplicateMessage):
            bob.decrypt(ALICE, message)
    assert send_back(bob, managers[0]) == b"all received"


def send_back(bob, alice):
    return alice.decrypt_and_commit(BOB, bob.encrypt(ALICE, b"all received"))
