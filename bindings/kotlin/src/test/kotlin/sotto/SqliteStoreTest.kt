// The SDK's persistent store through the binding: its write counter as a
// rollback anchor, rekeying, legacy rows, and last-resort KEM prekey uses.
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
import uniffi.sotto.PreKeyBundle
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

    @Test
    fun lastResortUsesPersistUntilTheKemPrekeyIsRotated(@TempDir dir: Path) {
        val path = dir.resolve("bob.sqlite").toString()
        val key = generateStorageKey()
        val alice = inMemory(ALICE)
        val first = SqliteStore.create(path, key, IdentityKeyPair.generate()).use { store ->
            val bob = SessionManager.withSqliteStore(BOB, store)
            val signed = bob.generateSignedPrekey(1u)
            val lastResort = bob.generateLastResortKemPrekey(5u)
            alice.processBundle(BOB, PreKeyBundle(bob.identityKey(), signed, lastResort, null).toBytes())
            val message = alice.encrypt(BOB, bytes("first"))
            assertEquals("first", String(bob.decryptAndCommit(ALICE, message)))
            assertEquals(1uL, store.kemPrekeyCount(), "a last-resort KEM prekey stays")
            bob.close()
            message
        }

        SqliteStore.open(path, key).use { store ->
            // Reopened, the store still knows the first message's use of it.
            val bob = SessionManager.withSqliteStore(BOB, store)
            assertThrows(SottoException.DuplicateMessage::class.java) { bob.decrypt(MALLORY, first) }

            // Rotation: a new last-resort KEM prekey, the old one removed with its uses.
            bob.generateLastResortKemPrekey(6u)
            assertEquals(2uL, store.kemPrekeyCount())
            store.removeKemPrekey(5u)
            assertEquals(1uL, store.kemPrekeyCount())
            assertThrows(SottoException.UnknownPreKey::class.java) { bob.decrypt(MALLORY, first) }
            assertEquals("still here", String(send(alice, bob, bytes("still here"))))
            bob.close()
        }
    }
}
