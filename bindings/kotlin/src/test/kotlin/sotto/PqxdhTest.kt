// Post-quantum sessions (PQXDH, ML-KEM-1024) through the binding: every new
// session post-quantum on both sides, a classical bundle refused unless the
// app opts in, one-time and last-resort KEM prekeys each starting a session
// once (in a store written in Kotlin), and a KEM prekey not signed by its
// bundle's identity refused.
package sotto

import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import uniffi.sotto.ClassicalSessions
import uniffi.sotto.Handshake
import uniffi.sotto.IdentityKeyPair
import uniffi.sotto.KemPreKeyPublic
import uniffi.sotto.PreKeyBundle
import uniffi.sotto.SessionManager
import uniffi.sotto.SottoException

class PqxdhTest {
    private fun kotlinBob(): Pair<MapStore, SessionManager> {
        val store = MapStore(IdentityKeyPair.generate())
        return store to SessionManager.withStore(BOB, store)
    }

    /**
     * `bob`'s bundle with `kem` as its KEM prekey, a new signed prekey of the
     * same id, and no one-time prekey: only the KEM prekey is single-use.
     */
    private fun bundleWith(bob: SessionManager, kem: KemPreKeyPublic): ByteArray {
        val signed = bob.generateSignedPrekey(kem.id)
        return PreKeyBundle(bob.identityKey(), signed, kem, null).toBytes()
    }

    /** `bundle` with one bit of `field`, found in it, flipped. */
    private fun flipped(bundle: ByteArray, field: ByteArray): ByteArray {
        val starts = (0..bundle.size - field.size).filter { at ->
            field.indices.all { bundle[at + it] == field[it] }
        }
        assertEquals(1, starts.size, "the field occurs once in the bundle")
        val tampered = bundle.copyOf()
        tampered[starts[0]] = (tampered[starts[0]].toInt() xor 1).toByte()
        return tampered
    }

    @Test
    fun aSessionIsPostQuantumOnBothSides() {
        val (_, bob) = kotlinBob()
        val alice = inMemory(ALICE)
        assertNull(alice.sessionHandshake(BOB))
        val bundle = bundleOf(bob)
        assertTrue(PreKeyBundle.fromBytes(bundle).hasKemPrekey())
        alice.processBundle(BOB, bundle)
        assertEquals(Handshake.PQXDH, alice.sessionHandshake(BOB))
        val received = bob.decrypt(ALICE, alice.encrypt(BOB, bytes("hello")))
        assertTrue(received.startedSession())
        received.commit()
        assertEquals(Handshake.PQXDH, bob.sessionHandshake(ALICE))
        assertTrue(alice.sessionHandshake(BOB)!!.isPostQuantum())
        assertTrue(bob.sessionHandshake(ALICE)!!.isPostQuantum())
        assertFalse(Handshake.X3DH.isPostQuantum())
        assertEquals("reply", String(send(bob, alice, bytes("reply"))))
        assertEquals(ClassicalSessions.REFUSE, alice.classicalSessions())
    }

    @Test
    fun aClassicalBundleIsRefusedUnlessClassicalSessionsAreAllowed() {
        var alice = inMemory(ALICE)
        var bob = inMemory(BOB)
        val signed = bob.generateSignedPrekey(1u)
        val oneTime = bob.generateOneTimePrekeys(100u, 1u).first()
        val classical = PreKeyBundle.classical(bob.identityKey(), signed, oneTime).toBytes()
        assertFalse(PreKeyBundle.fromBytes(classical).hasKemPrekey())
        val refused = assertThrows(SottoException.ClassicalSessionRefused::class.java) {
            alice.processBundle(BOB, classical)
        }
        assertEquals(BOB, refused.address)
        assertFalse(alice.hasSession(BOB))

        // Allowed on Alice's side only: Bob refuses her first message.
        alice = alice.withClassicalSessions(ClassicalSessions.ALLOW)
        assertEquals(ClassicalSessions.ALLOW, alice.classicalSessions())
        alice.processBundle(BOB, classical)
        assertEquals(Handshake.X3DH, alice.sessionHandshake(BOB))
        val first = alice.encrypt(BOB, bytes("classical"))
        val refusedByBob = assertThrows(SottoException.ClassicalSessionRefused::class.java) {
            bob.decrypt(ALICE, first)
        }
        assertEquals(ALICE, refusedByBob.address)
        assertFalse(bob.hasSession(ALICE))

        // Allowed on both sides: a classical session, which says so.
        bob = bob.withClassicalSessions(ClassicalSessions.ALLOW)
        assertEquals("classical", String(bob.decryptAndCommit(ALICE, first)))
        assertEquals(Handshake.X3DH, bob.sessionHandshake(ALICE))
        assertFalse(bob.sessionHandshake(ALICE)!!.isPostQuantum())
        assertEquals("reply", String(send(bob, alice, bytes("reply"))))
    }

    @Test
    fun aOneTimeKemPrekeyStartsOneSessionOnly() {
        val (store, bob) = kotlinBob()
        val kem = bob.generateKemPrekeys(40u, 1u).first()
        assertEquals(40u, kem.id)
        assertEquals(1569, kem.key.size)
        assertEquals(64, kem.signature.size)
        assertEquals(setOf(40u), store.kem.keys)
        val bundle = bundleWith(bob, kem)
        val alice = inMemory(ALICE)
        val carol = inMemory(CAROL)
        alice.processBundle(BOB, bundle)
        carol.processBundle(BOB, bundle)
        val first = alice.encrypt(BOB, bytes("first"))

        val received = bob.decrypt(ALICE, first)
        assertTrue(40u in store.kem, "nothing is removed before the commit")
        received.commit()
        assertFalse(40u in store.kem, "the commit consumed the KEM prekey")
        assertEquals(listOf(40u), store.committed.last()[0].consumedKemPrekeys)
        assertTrue(store.committed.last()[0].lastResortUses.isEmpty())
        assertEquals(Handshake.PQXDH, bob.sessionHandshake(ALICE))

        // The first message again: a duplicate in the session it started,
        // and, replayed as if from another address, an unknown KEM prekey.
        assertThrows(SottoException.DuplicateMessage::class.java) { bob.decrypt(ALICE, first) }
        val unknown = assertThrows(SottoException.UnknownPreKey::class.java) { bob.decrypt(MALLORY, first) }
        assertTrue(unknown.reason.contains("KEM prekey with id 40"), unknown.reason)
        // Carol used the same bundle: her first message is refused too.
        val tooLate = carol.encrypt(BOB, bytes("too late"))
        assertThrows(SottoException.UnknownPreKey::class.java) { bob.decrypt(CAROL, tooLate) }
        assertFalse(bob.hasSession(CAROL) || bob.hasSession(MALLORY))
    }

    @Test
    fun aLastResortKemPrekeyServesManySessionsEachOnce() {
        val (store, bob) = kotlinBob()
        val bundle = bundleWith(bob, bob.generateLastResortKemPrekey(5u))
        val firsts = listOf(ALICE, CAROL).map { address ->
            val peer = inMemory(address)
            peer.processBundle(BOB, bundle)
            val first = peer.encrypt(BOB, bytes(address.account))
            assertEquals(address.account, String(bob.decryptAndCommit(address, first)))
            assertEquals(Handshake.PQXDH, bob.sessionHandshake(address))
            address to first
        }
        assertTrue(5u in store.kem, "a last-resort KEM prekey stays")
        val uses = store.committed.flatMap { it[0].lastResortUses }
        assertEquals(listOf(5u, 5u), uses.map { it.kemPrekey })
        assertEquals(32, uses[0].baseKey.size)
        assertFalse(uses[0].baseKey.contentEquals(uses[1].baseKey))
        assertEquals(2, store.lastResortUses.size)

        // Each first message again, even as if from another address, is a
        // duplicate: its use of the last-resort prekey was recorded.
        for ((address, first) in firsts) {
            assertThrows(SottoException.DuplicateMessage::class.java) { bob.decrypt(address, first) }
            assertThrows(SottoException.DuplicateMessage::class.java) { bob.decrypt(MALLORY, first) }
        }
        assertFalse(bob.hasSession(MALLORY))
    }

    @Test
    fun aBatchCommitsKemPrekeyConsumptionWithItsSessions() {
        val (store, bob) = kotlinBob()
        val oneTime = bundleWith(bob, bob.generateKemPrekeys(60u, 1u).first())
        val lastResort = bundleWith(bob, bob.generateLastResortKemPrekey(61u))
        val alice = inMemory(ALICE)
        val carol = inMemory(CAROL)
        alice.processBundle(BOB, oneTime)
        carol.processBundle(BOB, lastResort)
        val fromAlice = alice.encrypt(BOB, bytes("alice"))
        val fromCarol = carol.encrypt(BOB, bytes("carol"))

        val batch = bob.batch()
        assertEquals("alice", String(batch.decrypt(ALICE, fromAlice)))
        assertEquals("carol", String(batch.decrypt(CAROL, fromCarol)))
        val commits = store.commits
        batch.commit()
        assertEquals(commits + 1, store.commits, "one store commit for the batch")
        val writes = store.committed.last().associateBy { it.address }
        assertEquals(listOf(60u), writes.getValue(ALICE).consumedKemPrekeys)
        assertTrue(writes.getValue(ALICE).lastResortUses.isEmpty())
        assertTrue(writes.getValue(CAROL).consumedKemPrekeys.isEmpty())
        assertEquals(listOf(61u), writes.getValue(CAROL).lastResortUses.map { it.kemPrekey })
        assertFalse(60u in store.kem)
        assertTrue(61u in store.kem)

        val again = bob.batch()
        assertThrows(SottoException.UnknownPreKey::class.java) { again.decrypt(MALLORY, fromAlice) }
        assertThrows(SottoException.DuplicateMessage::class.java) { again.decrypt(MALLORY, fromCarol) }
        assertTrue(again.isEmpty())
    }

    @Test
    fun aKemPrekeyNotSignedByTheBundlesIdentityIsRefused() {
        val alice = inMemory(ALICE)
        val bob = inMemory(BOB)
        val signed = bob.generateSignedPrekey(1u)
        val kem = bob.generateKemPrekeys(9u, 1u).first()
        val good = PreKeyBundle(bob.identityKey(), signed, kem, null).toBytes()

        // A byte of the KEM prekey's signature flipped in the bundle's bytes
        // (its offset found in them): the bundle parses, and is refused.
        val tampered = PreKeyBundle.fromBytes(flipped(good, kem.signature))
        assertTrue(tampered.hasKemPrekey())
        assertArrayEquals(bob.identityKey(), tampered.identityKey())
        assertThrows(SottoException.BadKemSignature::class.java) {
            alice.processBundle(BOB, tampered.toBytes())
        }
        assertFalse(alice.hasSession(BOB))

        // So is another identity's KEM prekey in Bob's bundle.
        val foreign = inMemory(MALLORY).generateLastResortKemPrekey(9u)
        val forged = PreKeyBundle(bob.identityKey(), signed, foreign, null).toBytes()
        assertThrows(SottoException.BadKemSignature::class.java) { alice.processBundle(BOB, forged) }
        // The signed prekey's signature flipped is the other refusal.
        assertThrows(SottoException.InvalidBundle::class.java) {
            alice.processBundle(BOB, flipped(good, signed.signature))
        }
        // A key that is no ML-KEM-1024 key is refused as an argument.
        val notAKey = kem.copy(key = kem.key.copyOf().also { it[0] = 2 })
        assertThrows(SottoException.InvalidArgument::class.java) {
            PreKeyBundle(bob.identityKey(), signed, notAKey, null)
        }

        alice.processBundle(BOB, good)
        assertEquals(Handshake.PQXDH, alice.sessionHandshake(BOB))
    }
}
