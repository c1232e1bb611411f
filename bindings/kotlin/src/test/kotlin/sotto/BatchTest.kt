// Batches: many queued messages decrypted, then committed in one store
// transaction.
package sotto

import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import uniffi.sotto.IdentityKeyPair
import uniffi.sotto.SessionManager
import uniffi.sotto.SottoException

class BatchTest {
    @Test
    fun queuedMessagesAreDecryptedAndCommittedAtOnce() {
        val store = MapStore(IdentityKeyPair.generate())
        val bob = SessionManager.withStore(BOB, store)
        val alice = inMemory(ALICE)
        val carol = inMemory(CAROL)
        connect(alice, bob, 1u, 100u)
        connect(carol, bob, 2u, 200u)

        // Interleaved, as a server may deliver them.
        val queued = (0 until 50).flatMap { n ->
            listOf(ALICE to alice.encrypt(BOB, bytes("alice $n")), CAROL to carol.encrypt(BOB, bytes("carol $n")))
        }
        val batch = bob.batch()
        assertTrue(batch.isEmpty())
        val commits = store.commits
        val plaintexts = queued.map { (sender, message) -> String(batch.decrypt(sender, message)) }.toSet()
        assertEquals(listOf("alice", "carol").flatMap { who -> (0 until 50).map { "$who $it" } }.toSet(), plaintexts)
        assertEquals(100uL, batch.len())
        assertEquals(commits, store.commits, "nothing is stored before the commit")
        batch.commit()
        assertEquals(commits + 1, store.commits, "one store transaction for the whole batch")

        assertThrows(SottoException.AlreadyCommitted::class.java) { batch.commit() }
        assertThrows(SottoException.AlreadyCommitted::class.java) { batch.decrypt(ALICE, queued[0].second) }
        for ((sender, message) in queued) {
            assertThrows(SottoException.DuplicateMessage::class.java) { bob.decrypt(sender, message) }
        }
        assertEquals("caught up", String(send(bob, alice, bytes("caught up"))))
    }

    @Test
    fun anUncommittedBatchStoresNothing() {
        val alice = inMemory(ALICE)
        val bob = inMemory(BOB)
        connect(alice, bob)
        val queued = (0 until 5).map { alice.encrypt(BOB, bytes("$it")) }
        val dropped = bob.batch()
        queued.forEach { dropped.decrypt(ALICE, it) }
        dropped.close()

        // A failed message changes nothing in the batch either.
        val batch = bob.batch()
        assertThrows(SottoException.MalformedMessage::class.java) { batch.decrypt(ALICE, bytes("not a message")) }
        assertEquals(listOf("0", "1", "2", "3", "4"), queued.map { String(batch.decrypt(ALICE, it)) })
        assertThrows(SottoException.DuplicateMessage::class.java) { batch.decrypt(ALICE, queued[0]) }
        assertEquals(5uL, batch.len())
        batch.commit()
    }

    @Test
    fun aBatchIsStaleAfterAWriteToItsAddress() {
        val alice = inMemory(ALICE)
        val bob = inMemory(BOB)
        connect(alice, bob)
        val queued = (0 until 3).map { alice.encrypt(BOB, bytes("$it")) }
        val batch = bob.batch()
        queued.forEach { batch.decrypt(ALICE, it) }
        val reply = bob.encrypt(ALICE, bytes("written in between"))
        assertThrows(SottoException.StaleDecryption::class.java) { batch.commit() }

        // Decrypted again, in a new batch, from the newer state.
        val again = bob.batch()
        assertEquals(listOf("0", "1", "2"), queued.map { String(again.decrypt(ALICE, it)) })
        again.commit()
        assertEquals("written in between", String(alice.decryptAndCommit(BOB, reply)))
    }
}
