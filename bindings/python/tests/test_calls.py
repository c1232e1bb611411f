"""1:1 calls through the binding: each call agrees on its own keys from an
offer and an answer that travel inside the DM session."""

import pytest

from sotto import CipherSuite, SottoError

from helpers import ALICE, BOB, CAROL, connect, in_memory, send

SUITE = CipherSuite.AES128_GCM_SHA256_128


@pytest.fixture
def alice_and_bob():
    alice, bob = in_memory(ALICE), in_memory(BOB)
    connect(alice, bob)
    return alice, bob


def ring(alice, bob, call_id=b"call-0001"):
    """Alice offers; the offer reaches Bob in the DM session; Bob's phone
    rings. Returns Alice's outgoing call and Bob's parsed offer."""
    offered = alice.offer_call(BOB, call_id, SUITE)
    offer = send(alice, bob, offered.offer)
    return offered.call, bob.parse_call_offer(ALICE, offer)


def pick_up(alice, bob, outgoing, ringing):
    """Bob accepts; the answer reaches Alice. Returns both sides' calls."""
    accepted = bob.accept_call(ALICE, ringing)
    return outgoing.receive_answer(send(bob, alice, accepted.answer)), accepted.call


def test_a_call_agrees_on_keys_and_carries_frames_both_ways(alice_and_bob):
    alice, bob = alice_and_bob
    outgoing, ringing = ring(alice, bob)
    assert outgoing.call_id() == ringing.call_id() == b"call-0001"
    assert ringing.suite() == SUITE
    on_alice, on_bob = pick_up(alice, bob, outgoing, ringing)
    assert on_alice.suite() == on_bob.suite() == SUITE
    assert on_alice.send_kid() == on_bob.receive_kid()
    assert on_bob.send_kid() == on_alice.receive_kid()

    frame = on_alice.encrypt(b"rtp header", b"an opus frame")
    assert on_bob.decrypt(b"rtp header", frame) == b"an opus frame"
    with pytest.raises(SottoError.FrameReplayed):
        on_bob.decrypt(b"rtp header", frame)
    with pytest.raises(SottoError.AuthenticationFailed):
        on_bob.decrypt(b"other metadata", on_alice.encrypt(b"rtp header", b"x"))
    assert on_alice.decrypt(b"", on_bob.encrypt(b"", b"answer")) == b"answer"

    # The answer completed the outgoing call: it is not answered twice.
    with pytest.raises(SottoError.AlreadyUsed):
        outgoing.receive_answer(b"any answer")


def test_keys_taken_out_for_another_media_stack(alice_and_bob):
    alice, bob = alice_and_bob
    on_alice, on_bob = pick_up(alice, bob, *ring(alice, bob))
    mine, theirs = on_alice.into_keys(), on_bob.into_keys()
    assert (mine.send_kid, mine.receive_kid) == (theirs.receive_kid, theirs.send_kid)
    assert mine.send_base_key == theirs.receive_base_key
    assert mine.receive_base_key == theirs.send_base_key
    assert mine.send_base_key != mine.receive_base_key
    # Taken once: the call no longer encrypts.
    with pytest.raises(SottoError.AlreadyUsed):
        on_alice.into_keys()
    with pytest.raises(SottoError.AlreadyUsed):
        on_alice.encrypt(b"", b"x")


def test_a_restarted_call_agrees_on_new_keys(alice_and_bob):
    alice, bob = alice_and_bob
    first_alice, first_bob = pick_up(alice, bob, *ring(alice, bob))
    old_frame = first_alice.encrypt(b"", b"frame")
    assert first_bob.decrypt(b"", old_frame) == b"frame"

    # Alice's app restarts mid-call and offers the same call again.
    second_alice, second_bob = pick_up(alice, bob, *ring(alice, bob))
    new_frame = second_alice.encrypt(b"", b"frame")
    assert new_frame != old_frame, "same call id, same counter, new keys"
    assert second_bob.decrypt(b"", new_frame) == b"frame"
    with pytest.raises(SottoError.AuthenticationFailed):
        second_bob.decrypt(b"", first_alice.encrypt(b"", b"old keys"))
    assert second_alice.decrypt(b"", second_bob.encrypt(b"", b"back")) == b"back"


def test_a_replayed_offer_is_refused(alice_and_bob):
    alice, bob = alice_and_bob
    offered = alice.offer_call(BOB, b"call-0002", SUITE)
    message = alice.encrypt(BOB, offered.offer)
    offer = bob.decrypt_and_commit(ALICE, message)
    ringing = bob.parse_call_offer(ALICE, offer)
    bob.accept_call(ALICE, ringing)

    # The same offer, or its bytes parsed again, is accepted once.
    with pytest.raises(SottoError.CallSignalRejected):
        bob.accept_call(ALICE, ringing)
    with pytest.raises(SottoError.CallSignalRejected):
        bob.accept_call(ALICE, bob.parse_call_offer(ALICE, offer))
    # Replayed as a DM message, it does not even decrypt.
    with pytest.raises(SottoError.DuplicateMessage):
        bob.decrypt(ALICE, message)


def test_an_answer_to_another_offer_is_refused_and_the_call_keeps_waiting(alice_and_bob):
    alice, bob = alice_and_bob
    earlier, ringing = ring(alice, bob)
    earlier_answer = send(bob, alice, bob.accept_call(ALICE, ringing).answer)

    later, ringing = ring(alice, bob)
    with pytest.raises(SottoError.CallSignalRejected):
        later.receive_answer(earlier_answer)
    with pytest.raises(SottoError.MalformedMessage):
        later.receive_answer(b"\xff not an answer")
    # Still waiting: its own answer completes it.
    accepted = bob.accept_call(ALICE, ringing)
    on_alice = later.receive_answer(send(bob, alice, accepted.answer))
    assert accepted.call.decrypt(b"", on_alice.encrypt(b"", b"frame")) == b"frame"


def test_call_signals_are_checked(alice_and_bob):
    alice, bob = alice_and_bob
    carol = in_memory(CAROL)
    with pytest.raises(SottoError.NoSession):
        alice.offer_call(CAROL, b"call", SUITE)
    with pytest.raises(SottoError.InvalidArgument):
        alice.offer_call(BOB, b"", SUITE)
    with pytest.raises(SottoError.MalformedMessage):
        bob.parse_call_offer(ALICE, b"\x00\x01 not an offer")

    # An offer Alice made for Carol, shown to Bob as if it were his.
    connect(alice, carol, signed_id=2, one_time_id=200)
    for_carol = alice.offer_call(CAROL, b"call", SUITE).offer
    with pytest.raises(SottoError.CallSignalRejected):
        bob.parse_call_offer(ALICE, for_carol)
