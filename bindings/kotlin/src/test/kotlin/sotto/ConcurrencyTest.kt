// Many threads encrypting to one peer through one manager: every message
// must use its own key (the key-reuse bug of load, change, store without a
// compare-and-swap), so the receiver decrypts each one exactly once.
package sotto

import java.nio.file.Path
import java.util.Collections
import java.util.concurrent.CyclicBarrier
import kotlin.concurrent.thread
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.sotto.IdentityKeyPair
import uniffi.sotto.SessionManager
import uniffi.sotto.SottoException
import uniffi.sotto.SqliteStore
import uniffi.sotto.generateStorageKey

const val THREADS = 8
const val EACH = 200

/**
 * Encrypts to Bob, trying again while another manager over the same store
 * keeps winning the compare-and-swap (`Contended`: nothing was stored or
 * handed out), as an app does.
 */
fun encryptRetrying(manager: SessionManager, plaintext: ByteArray): ByteArray {
    while (true) {
        try {
            return manager.encrypt(BOB, plaintext)
        } catch (contended: SottoException.Contended) {
            Thread.yield()
        }
    }
}

/** `THREADS` threads × `EACH` encryptions through `managers` (one store), then Bob decrypts them all. */
fun encryptFromThreadsThenDecryptEachOnce(managers: List<SessionManager>) {
    val bob = inMemory(BOB)
    connect(managers.first(), bob)

    // In the order encryptions returned: close to the chain's.
    val sent = Collections.synchronizedList(ArrayList<ByteArray>())
    val failures = Collections.synchronizedList(ArrayList<Throwable>())
    val start = CyclicBarrier(THREADS)
    val threads = (0 until THREADS).map { t ->
        thread {
            try {
                val manager = managers[t % managers.size]
                start.await()
                repeat(EACH) { n -> sent.add(encryptRetrying(manager, bytes("$t:$n"))) }
            } catch (error: Throwable) {
                failures.add(error)
            }
        }
    }
    threads.forEach { it.join() }
    assertEquals(emptyList<Throwable>(), failures.toList())
    assertEquals(THREADS * EACH, sent.size)
    assertEquals(sent.size, sent.map { it.toList() }.toSet().size)

    // Every envelope decrypts, each to its own plaintext: two encryptions
    // under one message key would make the second a duplicate.
    val received = sent.map { String(bob.decryptAndCommit(ALICE, it)) }
    assertEquals(THREADS * EACH, received.toSet().size)
    assertEquals((0 until THREADS).flatMap { t -> (0 until EACH).map { "$t:$it" } }.toSet(), received.toSet())
    // And exactly once.
    for (message in sent) {
        assertThrows(SottoException.DuplicateMessage::class.java) { bob.decrypt(ALICE, message) }
    }
    assertEquals("all received", String(send(bob, managers.first(), bytes("all received"))))
}

class ConcurrencyTest {
    @Test
    fun threadsOverTheInMemoryStoreNeverReuseAKey() =
        encryptFromThreadsThenDecryptEachOnce(listOf(inMemory(ALICE)))

    @Test
    fun threadsOverTheSqliteStoreNeverReuseAKey(@TempDir dir: Path) {
        val path = dir.resolve("alice.sqlite").toString()
        val store = SqliteStore.create(path, generateStorageKey(), IdentityKeyPair.generate())
        encryptFromThreadsThenDecryptEachOnce(listOf(SessionManager.withSqliteStore(ALICE, store)))
    }

    @Test
    fun twoManagersOverOneKotlinStoreNeverReuseAKey() {
        // Only the store's compare-and-swap keeps the two managers apart.
        val store = MapStore(IdentityKeyPair.generate())
        encryptFromThreadsThenDecryptEachOnce(List(2) { SessionManager.withStore(ALICE, store) })
        assertTrue(store.commits >= THREADS * EACH)
    }
}
