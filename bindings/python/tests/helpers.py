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
MALLORY = Address(account="mallory", device=1)


def in_memory(address):
    return SessionManager.with_in_memory_store(address, InMemoryStore(IdentityKeyPair.generate()))


def bundle_of(manager, signed_id=1, one_time_id=100):
    """What a server would hand out for `manager`'s device: a post-quantum
    bundle with a one-time KEM prekey and a one-time prekey, both with id
    `one_time_id` (KEM prekeys have ids of their own)."""
    signed = manager.generate_signed_prekey(signed_id)
    kem = manager.generate_kem_prekeys(one_time_id, 1)[0]
    one_time = manager.generate_one_time_prekeys(one_time_id, 1)[0]
    return PreKeyBundle(manager.identity_key(), signed, kem, one_time).to_bytes()


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


def use_key(used):
    """A LastResortUse as a set element."""
    return (used.kem_prekey, bytes(used.base_key))


class DictStore(ProtocolStore):
    """A ProtocolStore in Python dicts under one lock: records are opaque
    bytes, and each session's generation is kept beside its record."""

    def __init__(self, identity):
        self.lock = threading.Lock()
        self.identity = identity.to_record_bytes()
        self.peers = {}
        self.signed = {}
        self.one_time = {}
        self.kem = {}
        self.last_resort_uses = set()  # (kem prekey id, base key)
        self.sessions = {}  # (account, device) -> (generation, record)
        self.fail_with = None
        self.commits = 0
        self.committed = []  # the writes of every commit, in order

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

    def kem_prekey(self, id):
        self._check()
        with self.lock:
            return self.kem.get(id)

    def save_kem_prekey(self, id, record):
        self._check()
        with self.lock:
            self.kem[id] = bytes(record)

    def remove_kem_prekey(self, id):
        """Removes the KEM prekey and forgets its recorded last-resort uses."""
        self._check()
        with self.lock:
            self.kem.pop(id, None)
            self.last_resort_uses = {used for used in self.last_resort_uses if used[0] != id}

    def last_resort_use_recorded(self, id, base_key):
        self._check()
        with self.lock:
            return (id, bytes(base_key)) in self.last_resort_uses

    def load_session(self, address):
        self._check()
        with self.lock:
            stored = self.sessions.get(key(address))
            return None if stored is None else stored[1]

    # The checks of the contract, each its own method so that a test can
    # break one.

    def generation_matches(self, write):
        stored = self.sessions.get(key(write.address))
        return (None if stored is None else stored[0]) == write.expected_generation

    def identity_admitted(self, write):
        recorded = self.peers.get(key(write.address))
        return not write.peer_identity_first_use or recorded in (None, write.peer_identity)

    def prekeys_present(self, write):
        return all(id in self.one_time for id in write.consumed_one_time_prekeys)

    def kem_prekeys_present(self, write):
        return all(id in self.kem for id in write.consumed_kem_prekeys)

    def last_resort_uses_new(self, write):
        return all(
            used.kem_prekey in self.kem and use_key(used) not in self.last_resort_uses
            for used in write.last_resort_uses
        )

    def consumed_once(self, writes):
        """No two writes of the batch consume one prekey or record one use."""
        for consumed in (
            [id for write in writes for id in write.consumed_one_time_prekeys],
            [id for write in writes for id in write.consumed_kem_prekeys],
            [use_key(used) for write in writes for used in write.last_resort_uses],
        ):
            if len(set(consumed)) != len(consumed):
                return False
        return True

    def admits(self, writes):
        return self.consumed_once(writes) and all(
            self.generation_matches(write)
            and self.identity_admitted(write)
            and self.prekeys_present(write)
            and self.kem_prekeys_present(write)
            and self.last_resort_uses_new(write)
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
            for id in write.consumed_kem_prekeys:
                self.kem.pop(id, None)
            self.last_resort_uses.update(use_key(used) for used in write.last_resort_uses)
        self.commits += 1
        self.committed.append(writes)

    def commit(self, writes):
        """Checks every write, then applies them all, under the lock: one
        compare-and-swap of the whole batch."""
        self._check()
        with self.lock:
            if not self.admits(writes):
                raise StoreError.Conflict()
            self.apply(writes)
