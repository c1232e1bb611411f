// 1:1 calls through the binding: each call agrees on its own keys from an
// offer and an answer that travel inside the DM session.
package sotto

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Test
import uniffi.sotto.CallOffer
import uniffi.sotto.CipherSuite
import uniffi.sotto.OneToOneCall
import uniffi.sotto.OutgoingCall
import uniffi.sotto.SessionManager
import uniffi.sotto.SottoException

val SUITE = CipherSuite.AES128_GCM_SHA256_128
val NO_METADATA = ByteArray(0)

class CallTest {
    private val alice = inMemory(ALICE)
    private val bob = inMemory(BOB)

    init {
        connect(alice, bob)
    }

    /** Alice offers; the offer reaches Bob in the DM session; Bob's phone rings. */
    private fun ring(callId: String = "call-0001"): Pair<OutgoingCall, CallOffer> {
        val offered = alice.offerCall(BOB, bytes(callId), SUITE)
        return offered.call to bob.parseCallOffer(ALICE, send(alice, bob, offered.offer))
    }

    /** Bob accepts; the answer reaches Alice. Returns Alice's and Bob's calls. */
    private fun pickUp(ringing: Pair<OutgoingCall, CallOffer>): Pair<OneToOneCall, OneToOneCall> {
        val accepted = bob.acceptCall(ALICE, ringing.second)
        return ringing.first.receiveAnswer(send(bob, alice, accepted.answer)) to accepted.call
    }

    @Test
    fun aCallAgreesOnKeysAndCarriesFramesBothWays() {
        val ringing = ring()
        assertArrayEquals(bytes("call-0001"), ringing.first.callId())
        assertArrayEquals(bytes("call-0001"), ringing.second.callId())
        assertEquals(SUITE, ringing.second.suite())
        val (onAlice, onBob) = pickUp(ringing)
        assertEquals(SUITE, onAlice.suite())
        assertEquals(onAlice.sendKid(), onBob.receiveKid())
        assertEquals(onBob.sendKid(), onAlice.receiveKid())

        val metadata = bytes("rtp header")
        val frame = onAlice.encrypt(metadata, bytes("an opus frame"))
        assertEquals("an opus frame", String(onBob.decrypt(metadata, frame)))
        assertThrows(SottoException.FrameReplayed::class.java) { onBob.decrypt(metadata, frame) }
        val another = onAlice.encrypt(metadata, bytes("x"))
        assertThrows(SottoException.AuthenticationFailed::class.java) { onBob.decrypt(bytes("other"), another) }
        assertEquals("answer", String(onAlice.decrypt(NO_METADATA, onBob.encrypt(NO_METADATA, bytes("answer")))))

        // The answer completed the outgoing call: it is not answered twice.
        assertThrows(SottoException.AlreadyUsed::class.java) { ringing.first.receiveAnswer(bytes("any")) }
    }

    @Test
    fun keysTakenOutForAnotherMediaStack() {
        val (onAlice, onBob) = pickUp(ring())
        val mine = onAlice.intoKeys()
        val theirs = onBob.intoKeys()
        assertEquals(mine.sendKid, theirs.receiveKid)
        assertEquals(mine.receiveKid, theirs.sendKid)
        assertArrayEquals(mine.sendBaseKey, theirs.receiveBaseKey)
        assertArrayEquals(mine.receiveBaseKey, theirs.sendBaseKey)
        assertFalse(mine.sendBaseKey.contentEquals(mine.receiveBaseKey))
        assertThrows(SottoException.AlreadyUsed::class.java) { onAlice.intoKeys() }
        assertThrows(SottoException.AlreadyUsed::class.java) { onAlice.encrypt(NO_METADATA, bytes("x")) }
    }

    @Test
    fun aRestartedCallAgreesOnNewKeys() {
        val (firstAlice, firstBob) = pickUp(ring())
        val oldFrame = firstAlice.encrypt(NO_METADATA, bytes("frame"))
        assertEquals("frame", String(firstBob.decrypt(NO_METADATA, oldFrame)))

        // Alice's app restarts mid-call and offers the same call again.
        val (secondAlice, secondBob) = pickUp(ring())
        val newFrame = secondAlice.encrypt(NO_METADATA, bytes("frame"))
        assertFalse(newFrame.contentEquals(oldFrame), "same call id, same counter, new keys")
        assertEquals("frame", String(secondBob.decrypt(NO_METADATA, newFrame)))
        val underOldKeys = firstAlice.encrypt(NO_METADATA, bytes("old keys"))
        assertThrows(SottoException.AuthenticationFailed::class.java) {
            secondBob.decrypt(NO_METADATA, underOldKeys)
        }
        assertEquals("back", String(secondAlice.decrypt(NO_METADATA, secondBob.encrypt(NO_METADATA, bytes("back")))))
    }

    @Test
    fun aReplayedOfferIsRefused() {
        val offered = alice.offerCall(BOB, bytes("call-0002"), SUITE)
        val message = alice.encrypt(BOB, offered.offer)
        val offer = bob.decryptAndCommit(ALICE, message)
        val ringing = bob.parseCallOffer(ALICE, offer)
        bob.acceptCall(ALICE, ringing)

        // The same offer, or its bytes parsed again, is accepted once.
        assertThrows(SottoException.CallSignalRejected::class.java) { bob.acceptCall(ALICE, ringing) }
        assertThrows(SottoException.CallSignalRejected::class.java) {
            bob.acceptCall(ALICE, bob.parseCallOffer(ALICE, offer))
        }
        // Replayed as a DM message, it does not even decrypt.
        assertThrows(SottoException.DuplicateMessage::class.java) { bob.decrypt(ALICE, message) }
    }

    @Test
    fun anAnswerToAnotherOfferIsRefusedAndTheCallKeepsWaiting() {
        val earlier = ring()
        val earlierAnswer = send(bob, alice, bob.acceptCall(ALICE, earlier.second).answer)

        val (later, ringing) = ring()
        assertThrows(SottoException.CallSignalRejected::class.java) { later.receiveAnswer(earlierAnswer) }
        assertThrows(SottoException.MalformedMessage::class.java) { later.receiveAnswer(bytes("not an answer")) }
        // Still waiting: its own answer completes it.
        val accepted = bob.acceptCall(ALICE, ringing)
        val onAlice = later.receiveAnswer(send(bob, alice, accepted.answer))
        assertEquals("frame", String(accepted.call.decrypt(NO_METADATA, onAlice.encrypt(NO_METADATA, bytes("frame")))))
    }

    @Test
    fun callSignalsAreChecked() {
        val carol: SessionManager = inMemory(CAROL)
        assertThrows(SottoException.NoSession::class.java) { alice.offerCall(CAROL, bytes("call"), SUITE) }
        assertThrows(SottoException.InvalidArgument::class.java) { alice.offerCall(BOB, ByteArray(0), SUITE) }
        assertThrows(SottoException.MalformedMessage::class.java) {
            bob.parseCallOffer(ALICE, byteArrayOf(0, 1, 2))
        }

        // An offer Alice made for Carol, shown to Bob as if it were his.
        connect(alice, carol, 2u, 200u)
        val forCarol = alice.offerCall(CAROL, bytes("call"), SUITE).offer
        assertThrows(SottoException.CallSignalRejected::class.java) { bob.parseCallOffer(ALICE, forCarol) }
    }
}
