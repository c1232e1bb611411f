// Sotto through its Kotlin binding: conversations, a store written in
// Kotlin, the persistent store, errors as exceptions, trust decisions,
// safety numbers and group calls.
package sotto

import java.nio.file.Path
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.sotto.Address
import uniffi.sotto.CipherSuite
import uniffi.sotto.GroupCall
import uniffi.sotto.IdentityKeyPair
import uniffi.sotto.SafetyNumber
import uniffi.sotto.SessionManager
import uniffi.sotto.SottoException
import uniffi.sotto.SqliteStore
import uniffi.sotto.StoreException
import uniffi.sotto.generateStorageKey

class SottoTest {
    @Test
    fun twoPartyConversationWithOutOfOrderDelivery() {
        val alice = inMemory(ALICE)
        val bob = inMemory(BOB)
        connect(alice, bob)

        val sent = (0 until 5).map { alice.encrypt(BOB, "message $it".toByteArray()) }
        for (i in listOf(3, 0, 4, 2, 1)) {
            assertEquals("message $i", String(bob.decryptAndCommit(ALICE, sent[i])))
        }

        // Turns of both sides move the DH ratchet; a message of an earlier
        // turn arrives late.
        val late = bob.encrypt(ALICE, "late".toByteArray())
        for (turn in 0 until 3) {
            val reply = bob.encrypt(ALICE, "bob $turn".toByteArray())
            assertEquals("bob $turn", String(alice.decryptAndCommit(BOB, reply)))
            val answer = alice.encrypt(BOB, "alice $turn".toByteArray())
            assertEquals("alice $turn", String(bob.decryptAndCommit(ALICE, answer)))
        }
        assertEquals("late", String(alice.decryptAndCommit(BOB, late)))
        assertTrue(alice.hasSession(BOB) && bob.hasSession(ALICE))
    }

    @Test
    fun aStoreWrittenInKotlin() {
        val store = MapStore(IdentityKeyPair.generate())
        val bob = SessionManager.withStore(BOB, store)
        val alice = inMemory(ALICE)
        connect(alice, bob)

        // Bob's state lives in the Kotlin store, as opaque records, each
        // session with its generation; every write went through commit.
        assertEquals(setOf(1u), store.signed.keys)
        assertTrue(store.oneTime.isEmpty(), "the first message consumed the one-time prekey")
        assertTrue(store.kem.isEmpty(), "and the one-time KEM prekey")
        assertEquals(listOf(100u), store.committed[0][0].consumedKemPrekeys)
        assertTrue(store.peers.containsKey(ALICE))
        assertTrue(store.sessions.getValue(ALICE).generation > 0uL)
        assertEquals(2, store.commits, "the first message's commit, then the reply's encryption")

        // A message is not stored until committed: it decrypts again.
        val message = alice.encrypt(BOB, "handle me once".toByteArray())
        val uncommitted = bob.decrypt(ALICE, message)
        assertEquals("handle me once", String(uncommitted.plaintext()))
        assertEquals(2, store.commits)
        val again = bob.decrypt(ALICE, message)
        again.commit()
        assertEquals(3, store.commits)
        assertThrows(SottoException.AlreadyCommitted::class.java) { again.commit() }
        assertThrows(SottoException.DuplicateMessage::class.java) { bob.decrypt(ALICE, message) }
        // The copy decrypted before that commit is stale: committing it would undo it.
        assertThrows(SottoException.StaleDecryption::class.java) { uncommitted.commit() }

        // So is a decryption with an encryption to the same address in between:
        // its commit would make the next encryption reuse a message key.
        val pending = bob.decrypt(ALICE, alice.encrypt(BOB, "pending".toByteArray()))
        val first = bob.encrypt(ALICE, "x1".toByteArray())
        assertThrows(SottoException.StaleDecryption::class.java) { pending.commit() }
        val second = bob.encrypt(ALICE, "x2".toByteArray())
        assertEquals("x1", String(alice.decryptAndCommit(BOB, first)))
        assertEquals("x2", String(alice.decryptAndCommit(BOB, second)))

        // A second manager over the same store carries the session on.
        val bobAgain = SessionManager.withStore(BOB, store)
        val afterRestart = alice.encrypt(BOB, "after restart".toByteArray())
        assertEquals("after restart", String(bobAgain.decryptAndCommit(ALICE, afterRestart)))
        val stillHere = bobAgain.encrypt(ALICE, "still here".toByteArray())
        assertEquals("still here", String(alice.decryptAndCommit(BOB, stillHere)))
    }

    @Test
    fun thePersistentStoreKeepsSessionsAcrossRestarts(@TempDir dir: Path) {
        val path = dir.resolve("bob.sqlite").toString()
        val key = generateStorageKey()
        val identity = IdentityKeyPair.generate()
        val alice = inMemory(ALICE)
        SqliteStore.create(path, key, identity).use { store ->
            SessionManager.withSqliteStore(BOB, store).use { bob -> connect(alice, bob) }
            assertEquals(0uL, store.oneTimePrekeyCount())
            assertEquals(0uL, store.kemPrekeyCount())
        }

        SqliteStore.open(path, key).use { store ->
            val bob = SessionManager.withSqliteStore(BOB, store)
            assertArrayEquals(identity.publicKey(), bob.identityKey())
            val message = alice.encrypt(BOB, "after restart".toByteArray())
            assertEquals("after restart", String(bob.decryptAndCommit(ALICE, message)))
        }

        assertThrows(SottoException.WrongStorageKey::class.java) {
            SqliteStore.open(path, generateStorageKey())
        }
        assertThrows(SottoException.InvalidArgument::class.java) {
            SqliteStore.open(path, "short key".toByteArray())
        }
        assertThrows(SottoException.Store::class.java) { SqliteStore.create(path, key, identity) }
    }

    @Test
    fun storeFailuresArriveAsStoreErrors() {
        val store = MapStore(IdentityKeyPair.generate())
        val bob = SessionManager.withStore(BOB, store)
        val alice = inMemory(ALICE)
        connect(alice, bob)
        val message = alice.encrypt(BOB, "during an outage".toByteArray())

        store.failWith = StoreException.Backend("disk full")
        val full = assertThrows(SottoException.Store::class.java) { bob.decrypt(ALICE, message) }
        assertTrue(full.reason.contains("disk full"), full.reason)

        // An exception that is not a StoreException is a store failure too.
        store.failWith = IllegalStateException("database locked")
        val locked = assertThrows(SottoException.Store::class.java) {
            bob.encrypt(ALICE, "x".toByteArray())
        }
        assertTrue(locked.reason.contains("database locked"), locked.reason)

        // A failed commit leaves the message committable once the store is back.
        store.failWith = null
        val received = bob.decrypt(ALICE, message)
        store.failWith = StoreException.Backend("disk full")
        assertThrows(SottoException.Store::class.java) { received.commit() }
        store.failWith = null
        received.commit()
        assertEquals("during an outage", String(received.plaintext()))
    }

    @Test
    fun aCorruptRecordIsRefused() {
        val store = MapStore(IdentityKeyPair.generate())
        val bob = SessionManager.withStore(BOB, store)
        connect(inMemory(ALICE), bob)
        store.sessions[ALICE] = Stored(store.sessions.getValue(ALICE).generation, byteArrayOf(0xff.toByte(), 0, 1, 2))
        assertThrows(SottoException.CorruptRecord::class.java) { bob.encrypt(ALICE, "x".toByteArray()) }
    }

    @Test
    fun typedErrorsArriveAsExceptions() {
        val alice = inMemory(ALICE)
        val bob = inMemory(BOB)
        assertThrows(SottoException.NoSession::class.java) {
            alice.encrypt(BOB, "no session yet".toByteArray())
        }
        connect(alice, bob)

        assertThrows(SottoException.MalformedMessage::class.java) {
            bob.decrypt(ALICE, byteArrayOf(0, 1, 2, 3))
        }

        val message = alice.encrypt(BOB, "once".toByteArray())
        val tampered = message.copyOf()
        tampered[tampered.size - 1] = (tampered.last().toInt() xor 1).toByte()
        assertThrows(SottoException.AuthenticationFailed::class.java) { bob.decrypt(ALICE, tampered) }

        assertEquals("once", String(bob.decryptAndCommit(ALICE, message)))
        val replay = assertThrows(SottoException.DuplicateMessage::class.java) {
            bob.decrypt(ALICE, message)
        }
        assertTrue(replay is SottoException)
        assertTrue(replay.counter >= 0u)

        assertThrows(SottoException.InvalidBundle::class.java) {
            alice.processBundle(BOB, byteArrayOf(1, 2, 3))
        }
        assertThrows(SottoException.InvalidArgument::class.java) {
            alice.encrypt(Address("", 1u), "x".toByteArray())
        }
        assertThrows(SottoException.InvalidArgument::class.java) {
            alice.trustIdentity(BOB, "short".toByteArray(), false)
        }
        assertThrows(SottoException.CorruptRecord::class.java) {
            IdentityKeyPair.fromRecordBytes(byteArrayOf(0xff.toByte(), 0xff.toByte()))
        }
    }

    @Test
    fun identityChangeIsRefusedUntilTrusted() {
        val alice = inMemory(ALICE)
        val bob = inMemory(BOB)
        connect(alice, bob)

        // Bob reinstalls: a new identity key under the same address.
        val newBob = inMemory(BOB)
        val newBundle = bundleOf(newBob)
        val changed = assertThrows(SottoException.UntrustedIdentity::class.java) {
            alice.processBundle(BOB, newBundle)
        }
        assertEquals(BOB, changed.address)
        assertArrayEquals(newBob.identityKey(), changed.identityKey)

        // A first message from the new Bob is refused the same way.
        newBob.processBundle(ALICE, bundleOf(alice, 2u, 200u))
        val first = newBob.encrypt(ALICE, "it's me, really".toByteArray())
        assertThrows(SottoException.UntrustedIdentity::class.java) { alice.decrypt(BOB, first) }

        // The user accepts the new key: the sessions with the old one are
        // dropped, and the old device's messages are refused from now on.
        val oldMessage = bob.encrypt(ALICE, "from the old install".toByteArray())
        alice.trustIdentity(BOB, changed.identityKey, false)
        assertFalse(alice.hasSession(BOB))
        assertThrows(SottoException.NoSession::class.java) { alice.decrypt(BOB, oldMessage) }
        alice.processBundle(BOB, newBundle)
        val welcome = alice.encrypt(BOB, "welcome back".toByteArray())
        assertEquals("welcome back", String(newBob.decryptAndCommit(ALICE, welcome)))
    }

    @Test
    fun aTrustDecisionMakesPendingDecryptionsStale() {
        val alice = inMemory(ALICE)
        val bob = inMemory(BOB)
        connect(alice, bob)
        val pending = alice.decrypt(BOB, bob.encrypt(ALICE, bytes("decided before the trust")))
        alice.trustIdentity(BOB, bob.identityKey(), true)
        assertThrows(SottoException.StaleDecryption::class.java) { pending.commit() }
        assertEquals("after", String(send(bob, alice, bytes("after"))))
    }

    @Test
    fun aStoreThatLostAnIdentityRefusesTheAddressUntilTrusted() {
        val store = MapStore(IdentityKeyPair.generate())
        val bob = SessionManager.withStore(BOB, store)
        val alice = inMemory(ALICE)
        connect(alice, bob)

        store.peers.remove(ALICE)
        val missing = assertThrows(SottoException.PeerIdentityMissing::class.java) {
            bob.encrypt(ALICE, bytes("x"))
        }
        assertEquals(ALICE, missing.address)
        assertThrows(SottoException.PeerIdentityMissing::class.java) {
            bob.decrypt(ALICE, alice.encrypt(BOB, bytes("y")))
        }

        // The user confirms Alice's key (say, by comparing safety numbers).
        bob.trustIdentity(ALICE, alice.identityKey(), true)
        assertEquals("back", String(send(bob, alice, bytes("back"))))
    }

    @Test
    fun safetyNumbersAgreeOnBothSides() {
        val alice = inMemory(ALICE)
        val bob = inMemory(BOB)
        assertNull(alice.safetyNumber(BOB))
        connect(alice, bob)
        val onAlice = alice.safetyNumber(BOB)!!
        val onBob = bob.safetyNumber(ALICE)!!
        assertEquals(onAlice.displayable(), onBob.displayable())
        assertEquals(60, onAlice.displayable().length)
        assertEquals(12, onAlice.grouped().split(" ").size)
        assertTrue(onBob.matchesScanned(onAlice.scannable()))
        val direct = SafetyNumber(ALICE, alice.identityKey(), BOB, bob.identityKey())
        assertEquals(onAlice.displayable(), direct.displayable())
        assertThrows(SottoException.InvalidArgument::class.java) {
            onBob.matchesScanned(byteArrayOf(0, 0, 0))
        }
    }

    @Test
    fun groupCallSenderKeysOverDmSessions() {
        val alice = inMemory(ALICE)
        val bob = inMemory(BOB)
        connect(alice, bob)
        val callId = "standup-42".toByteArray()
        val suite = CipherSuite.CHA_CHA20_POLY1305_SHA256_128
        val onAlice = GroupCall(callId, suite, 1u, 0uL)
        val onBob = GroupCall(callId, suite, 2u, 0uL)
        val empty = ByteArray(0)

        // Each sends its sender key inside the DM session.
        val fromAlice = bob.decryptAndCommit(ALICE, alice.encrypt(BOB, onAlice.senderKeyMessage()))
        assertEquals(1.toUShort(), onBob.receiveSenderKey(1u, fromAlice).participant)
        val fromBob = alice.decryptAndCommit(BOB, bob.encrypt(ALICE, onBob.senderKeyMessage()))
        onAlice.receiveSenderKey(2u, fromBob)
        assertEquals(listOf<UShort>(1u, 2u), onAlice.participants())
        assertEquals("frame", String(onBob.decrypt(empty, onAlice.encrypt(empty, "frame".toByteArray()))))
        assertThrows(SottoException.SenderKeyRejected::class.java) { onAlice.receiveSenderKey(2u, fromBob) }

        // Carol joins: Alice's key ratchets; Carol gets the new step only.
        val onCarol = GroupCall(callId, suite, 3u, 0uL)
        onCarol.receiveSenderKey(1u, onAlice.participantJoined(3u))
        val stepOne = onAlice.encrypt(empty, "step 1".toByteArray())
        assertEquals(1.toUByte(), onAlice.keyId().step)
        assertEquals("step 1", String(onCarol.decrypt(empty, stepOne)))
        assertEquals("step 1", String(onBob.decrypt(empty, stepOne)))

        // Bob leaves: Alice moves to epoch 1; Bob cannot read her frames.
        onCarol.receiveSenderKey(1u, onAlice.participantLeft(2u))
        assertEquals(1uL, onAlice.epoch())
        val epochOne = onAlice.encrypt(empty, "epoch 1".toByteArray())
        assertEquals("epoch 1", String(onCarol.decrypt(empty, epochOne)))
        assertThrows(SottoException.FrameRejected::class.java) { onBob.decrypt(empty, epochOne) }
        assertThrows(SottoException.InvalidArgument::class.java) { onAlice.participantJoined(1u) }
    }
}
