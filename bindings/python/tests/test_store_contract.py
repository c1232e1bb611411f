"""The commit contract through the binding: a store written in Python
passes the conformance check, and stores that break one rule fail it."""

import time

import pytest

from sotto import IdentityKeyPair, SottoError, StoreError, check_store_conformance

from helpers import DictStore


def test_a_python_store_keeping_the_contract_passes_the_check():
    check_store_conformance(DictStore(IdentityKeyPair.generate()), 8)


def test_the_check_runs_without_threads_too():
    check_store_conformance(DictStore(IdentityKeyPair.generate()), 1)


class IgnoresGeneration(DictStore):
    """Applies every commit, whatever generation it expects."""

    def generation_matches(self, write):
        return True


class IgnoresFirstUse(DictStore):
    """Replaces a recorded identity even on first use."""

    def identity_admitted(self, write):
        return True


class IgnoresConsumedPrekeys(DictStore):
    """Lets a commit consume a one-time prekey that is gone."""

    def prekeys_present(self, write):
        return True


class IgnoresConsumedKemPrekeys(DictStore):
    """Lets a commit consume a one-time KEM prekey that is gone."""

    def kem_prekeys_present(self, write):
        return True


class IgnoresLastResortUses(DictStore):
    """Records a last-resort use again, or of a KEM prekey that is gone: a
    replayed first message would start a second session."""

    def last_resort_uses_new(self, write):
        return True


class IgnoresBatchDuplicates(DictStore):
    """Lets two writes of one batch record the same last-resort use."""

    def consumed_once(self, writes):
        return True


class RacesCommits(DictStore):
    """Checks, then applies, with the lock released in between: two threads
    can both advance a session from one generation."""

    def commit(self, writes):
        with self.lock:
            if not self.admits(writes):
                raise StoreError.Conflict()
        time.sleep(0.001)  # another thread checks the same generation here
        with self.lock:
            self.apply(writes)


@pytest.mark.parametrize(
    "store, check",
    [
        (IgnoresGeneration, "compare-and-swap on the generation"),
        (IgnoresFirstUse, "first-use identities"),
        (IgnoresConsumedPrekeys, "consumed one-time prekeys"),
        (IgnoresConsumedKemPrekeys, "KEM prekeys"),
        (IgnoresLastResortUses, "KEM prekeys"),
        (IgnoresBatchDuplicates, "KEM prekeys"),
    ],
)
def test_a_store_breaking_the_contract_fails_the_check(store, check):
    with pytest.raises(SottoError.ConformanceFailed) as failed:
        check_store_conformance(store(IdentityKeyPair.generate()), 8)
    assert failed.value.check == check
    assert failed.value.detail


def test_a_store_whose_commit_is_not_atomic_fails_the_concurrent_check():
    with pytest.raises(SottoError.ConformanceFailed) as failed:
        check_store_conformance(RacesCommits(IdentityKeyPair.generate()), 8)
    assert failed.value.check == "concurrent compare-and-swaps"
    # From one thread nothing races: the other checks pass.
    check_store_conformance(RacesCommits(IdentityKeyPair.generate()), 1)
