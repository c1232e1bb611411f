"""What the test modules share: addresses, managers with a session, and
stores written in Python that keep (or break) the commit contract."""

import threading

from sotto import (
    Address,
    IdentityKeyPair,
    InMemoryStore,
    PreKeyBundle,
    ProtocolStore,
    SessionManager,
    StoreError,
)

ALICE = Address(account="alice", device=1)
BOB = Address(account="bob", device=1)
CAROL = Address(account="carol", device=1)


def in_memory(address):
    return SessionManager.with_in_memory_store(address, InMemoryStore(IdentityKeyPair.generate()))


def bundle_of(manager, signed_id=1, one_time_id=100):
    """What a server would hand out for `manager`'s device."""
    signed = manager.generate_signed_prekey(signed_id)
    one_time = manager.generate_one_time_prekeys(one_time_id, 1)[0]
    return PreKeyBundle(manager.identity_key(), signed, one_time).to_bytes()


def connect(alice, bob, signed_id=1, one_time_id=100):
    """`alice` starts a session from `bob`'s bundle; `bob` answers."""
    alice.process_bundle(bob.address(), bundle_of(bob, signed_id, one_time_id))
    first = alice.encrypt(bob.address(), b"hello")
    received = bob.decrypt(alice.address(), first)
    assert received.started_session()
    assert received.plaintext() == b"hello"
    received.commit()
    assert alice.decrypt_and_commit(bob.address(), bob.encrypt(alice.address(), b"hi")) == b"hi"


def send(sender, receiver, plaintext):
    """`plaintext` from `sender` to `receiver` through their session."""
    message = sender.encrypt(receiver.address(), plaintext)
    return receiver.decrypt_and_commit(sender.address(), message)


def key(address):
    return (address.account, address.device)


class DictStore(ProtocolStore):
    """A ProtocolStore in Python dicts under one lock: records are opaque
    bytes, and each session's generation is kept beside its record."""

    def __init__(self, identity):
        self.lock = threading.Lock()
        self.identity = identity.to_record_bytes()
        self.peers = {}
        self.signed = {}
        self.one_time = {}
        self.sessions = {}  # (account, device) -> (generation, record)
        self.fail_with = None
        self.commits = 0

    def _check(self):
        if self.fail_with is not None:
            raise self.fail_with

    def local_identity(self):
        self._check()
        return self.identity

    def peer_identity(self, address):
        self._check()
        with self.lock:
            return self.peers.get(key(address))

    def signed_prekey(self, id):
        self._check()
        with self.lock:
            return self.signed.get(id)

    def save_signed_prekey(self, id, record):
        self._check()
        with self.lock:
            self.signed[id] = bytes(record)

    def remove_signed_prekey(self, id):
        self._check()
        with self.lock:
            self.signed.pop(id, None)

    def one_time_prekey(self, id):
        self._check()
        with self.lock:
            return self.one_time.get(id)

    def save_one_time_prekey(self, id, record):
        self._check()
        with self.lock:
            self.one_time[id] = bytes(record)

    def remove_one_time_prekey(self, id):
        self._check()
        with self.lock:
            self.one_time.pop(id, None)

    def load_session(self, address):
        self._check()
        with self.lock:
            stored = self.sessions.get(key(address))
            return None if stored is None else stored[1]

    # The three checks of the contract, each its own method so that a test
    # can break one.

    def generation_matches(self, write):
        stored = self.sessions.get(key(write.address))
        return (None if stored is None else stored[0]) == write.expected_generation

    def identity_admitted(self, write):
        recorded = self.peers.get(key(write.address))
        return not write.peer_identity_first_use or recorded in (None, write.peer_identity)

    def prekeys_present(self, write):
        return all(id in self.one_time for id in write.consumed_one_time_prekeys)

    def admits(self, writes):
        return all(
            self.generation_matches(write)
            and self.identity_admitted(write)
            and self.prekeys_present(write)
            for write in writes
        )

    def apply(self, writes):
        for write in writes:
            address = key(write.address)
            if write.peer_identity is not None and not (
                write.peer_identity_first_use and address in self.peers
            ):
                self.peers[address] = bytes(write.peer_identity)
            self.sessions[address] = (write.generation, bytes(write.session))
            for id in write.consumed_one_time_prekeys:
                self.one_time.pop(id, None)
        self.commits += 1

    def commit(self, writes):
        """Checks every write, then applies them all, under the lock: one
        compare-and-swap of the whole batch."""
        self._check()
        with self.lock:
            if not self.admits(writes):
                raise StoreError.Conflict()
            self.apply(writes)
