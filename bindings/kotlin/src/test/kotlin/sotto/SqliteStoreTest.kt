// The SDK's persistent store through the binding: its write counter as a
// rollback anchor, rekeying, and legacy rows.
package sotto

import java.nio.file.Path
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import uniffi.sotto.Address
import uniffi.sotto.IdentityKeyPair
import uniffi.sotto.SessionManager
import uniffi.sotto.SottoException
import uniffi.sotto.SqliteStore
import uniffi.sotto.generateStorageKey

class SqliteStoreTest {
    @Test
    fun aRekeyedStoreOpensWithTheNewKeyOnly(@TempDir dir: Path) {
        val path = dir.resolve("bob.sqlite").toString()
        val oldKey = generateStorageKey()
        val newKey = generateStorageKey()
        val alice = inMemory(ALICE)
        val identity = IdentityKeyPair.generate()
        SqliteStore.create(path, oldKey, identity).use { store ->
            val bob = SessionManager.withSqliteStore(BOB, store)
            connect(alice, bob)
            assertThrows(SottoException.InvalidArgument::class.java) { store.rekey(bytes("too short")) }
            store.rekey(newKey)
            // The handle that rekeyed goes on under the new key.
            assertEquals("during", String(send(alice, bob, bytes("during"))))
            bob.close()
        }

        assertThrows(SottoException.WrongStorageKey::class.java) { SqliteStore.open(path, oldKey) }
        SqliteStore.open(path, newKey).use { store ->
            val bob = SessionManager.withSqliteStore(BOB, store)
            assertArrayEquals(identity.publicKey(), bob.identityKey())
            assertEquals("after", String(send(alice, bob, bytes("after"))))
            assertEquals("reply", String(send(bob, alice, bytes("reply"))))
        }
    }

    @Test
    fun theWriteCounterAnchorsTheFileAgainstARollback(@TempDir dir: Path) {
        val path = dir.resolve("bob.sqlite").toString()
        val key = generateStorageKey()
        val anchor = SqliteStore.create(path, key, IdentityKeyPair.generate()).use { store ->
            val before = store.writeCounter()
            connect(inMemory(ALICE), SessionManager.withSqliteStore(BOB, store))
            store.writeCounter().also { assertTrue(it > before) }
        }

        SqliteStore.openAnchored(path, key, anchor).use { assertEquals(anchor, it.writeCounter()) }
        // An anchor newer than the file: the file is an older copy of itself.
        assertThrows(SottoException.StoreTampered::class.java) { SqliteStore.openAnchored(path, key, anchor + 1uL) }
        assertThrows(SottoException.WrongStorageKey::class.java) {
            SqliteStore.openAnchored(path, generateStorageKey(), anchor)
        }
    }

    @Test
    fun aNewStoreHasNoLegacyRows(@TempDir dir: Path) {
        val path = dir.resolve("bob.sqlite").toString()
        SqliteStore.create(path, generateStorageKey(), IdentityKeyPair.generate()).use { store ->
            connect(inMemory(ALICE), SessionManager.withSqliteStore(BOB, store))
            assertEquals(0uL, store.upgradeLegacyRows(listOf(ALICE, BOB)))
            assertThrows(SottoException.InvalidArgument::class.java) {
                store.upgradeLegacyRows(listOf(Address("", 1u)))
            }
        }
    }
}
