// What the test classes share: addresses, managers with a session, and
// stores written in Kotlin that keep (or break) the commit contract.
package sotto

import java.util.concurrent.locks.ReentrantLock
import kotlin.concurrent.withLock
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import uniffi.sotto.Address
import uniffi.sotto.IdentityKeyPair
import uniffi.sotto.InMemoryStore
import uniffi.sotto.LastResortUse
import uniffi.sotto.PendingWrites
import uniffi.sotto.PreKeyBundle
import uniffi.sotto.ProtocolStore
import uniffi.sotto.SessionManager
import uniffi.sotto.StoreException

val ALICE = Address("alice", 1u)
val BOB = Address("bob", 1u)
val CAROL = Address("carol", 1u)
val MALLORY = Address("mallory", 1u)

fun inMemory(address: Address): SessionManager =
    SessionManager.withInMemoryStore(address, InMemoryStore(IdentityKeyPair.generate()))

fun bytes(text: String): ByteArray = text.toByteArray()

/**
 * What a server would hand out for `manager`'s device: a post-quantum bundle
 * with a one-time KEM prekey and a one-time prekey, both with id `oneTimeId`
 * (KEM prekeys have ids of their own).
 */
fun bundleOf(manager: SessionManager, signedId: UInt = 1u, oneTimeId: UInt = 100u): ByteArray {
    val signed = manager.generateSignedPrekey(signedId)
    val kem = manager.generateKemPrekeys(oneTimeId, 1u).first()
    val oneTime = manager.generateOneTimePrekeys(oneTimeId, 1u).first()
    return PreKeyBundle(manager.identityKey(), signed, kem, oneTime).toBytes()
}

/** `alice` starts a session from `bob`'s bundle; `bob` answers. */
fun connect(alice: SessionManager, bob: SessionManager, signedId: UInt = 1u, oneTimeId: UInt = 100u) {
    alice.processBundle(bob.address(), bundleOf(bob, signedId, oneTimeId))
    val received = bob.decrypt(alice.address(), alice.encrypt(bob.address(), bytes("hello")))
    assertTrue(received.startedSession())
    assertEquals("hello", String(received.plaintext()))
    received.commit()
    val reply = bob.encrypt(alice.address(), bytes("hi"))
    assertEquals("hi", String(alice.decryptAndCommit(bob.address(), reply)))
}

/** `plaintext` from `sender` to `receiver` through their session. */
fun send(sender: SessionManager, receiver: SessionManager, plaintext: ByteArray): ByteArray =
    receiver.decryptAndCommit(sender.address(), sender.encrypt(receiver.address(), plaintext))

/** A session record as stored, with the generation it was committed with. */
class Stored(val generation: ULong, val record: ByteArray)

/** A last-resort use as a set element: `LastResortUse`'s ByteArray compares by identity. */
fun useKey(used: LastResortUse): Pair<UInt, List<Byte>> = used.kemPrekey to used.baseKey.toList()

/**
 * A ProtocolStore in Kotlin maps under one lock: records are opaque bytes,
 * and each session's generation is kept beside its record.
 */
open class MapStore(identity: IdentityKeyPair) : ProtocolStore {
    private val identity = identity.toRecordBytes()
    protected val lock = ReentrantLock()
    val peers = HashMap<Address, ByteArray>()
    val signed = HashMap<UInt, ByteArray>()
    val oneTime = HashMap<UInt, ByteArray>()
    val kem = HashMap<UInt, ByteArray>()
    val lastResortUses = HashSet<Pair<UInt, List<Byte>>>()
    val sessions = HashMap<Address, Stored>()
    /** The writes of every commit, in order. */
    val committed = ArrayList<List<PendingWrites>>()
    @Volatile var failWith: Exception? = null
    @Volatile var commits = 0

    private fun <T> locked(body: () -> T): T {
        failWith?.let { throw it }
        return lock.withLock(body)
    }

    override fun localIdentity(): ByteArray? = locked { identity }

    override fun peerIdentity(address: Address): ByteArray? = locked { peers[address] }

    override fun signedPrekey(id: UInt): ByteArray? = locked { signed[id] }

    override fun saveSignedPrekey(id: UInt, record: ByteArray) = locked { signed[id] = record }

    override fun removeSignedPrekey(id: UInt) = locked { signed.remove(id); Unit }

    override fun oneTimePrekey(id: UInt): ByteArray? = locked { oneTime[id] }

    override fun saveOneTimePrekey(id: UInt, record: ByteArray) = locked { oneTime[id] = record }

    override fun removeOneTimePrekey(id: UInt) = locked { oneTime.remove(id); Unit }

    override fun kemPrekey(id: UInt): ByteArray? = locked { kem[id] }

    override fun saveKemPrekey(id: UInt, record: ByteArray) = locked { kem[id] = record }

    /** Removes the KEM prekey and forgets its recorded last-resort uses. */
    override fun removeKemPrekey(id: UInt) = locked {
        kem.remove(id)
        lastResortUses.removeAll { it.first == id }
        Unit
    }

    override fun lastResortUseRecorded(id: UInt, baseKey: ByteArray): Boolean =
        locked { (id to baseKey.toList()) in lastResortUses }

    override fun loadSession(address: Address): ByteArray? = locked { sessions[address]?.record }

    // The checks of the contract, each its own method so that a test can
    // break one. Called with the lock held.

    open fun generationMatches(write: PendingWrites): Boolean =
        sessions[write.address]?.generation == write.expectedGeneration

    open fun identityAdmitted(write: PendingWrites): Boolean {
        val recorded = peers[write.address]
        return !write.peerIdentityFirstUse || recorded == null || recorded.contentEquals(write.peerIdentity)
    }

    open fun prekeysPresent(write: PendingWrites): Boolean =
        write.consumedOneTimePrekeys.all { it in oneTime }

    open fun kemPrekeysPresent(write: PendingWrites): Boolean =
        write.consumedKemPrekeys.all { it in kem }

    open fun lastResortUsesNew(write: PendingWrites): Boolean =
        write.lastResortUses.all { it.kemPrekey in kem && useKey(it) !in lastResortUses }

    /** No two writes of the batch consume one prekey or record one use. */
    open fun consumedOnce(writes: List<PendingWrites>): Boolean =
        listOf(
            writes.flatMap { it.consumedOneTimePrekeys },
            writes.flatMap { it.consumedKemPrekeys },
            writes.flatMap { write -> write.lastResortUses.map(::useKey) },
        ).all { it.toSet().size == it.size }

    fun admits(writes: List<PendingWrites>): Boolean =
        consumedOnce(writes) &&
            writes.all {
                generationMatches(it) && identityAdmitted(it) && prekeysPresent(it) &&
                    kemPrekeysPresent(it) && lastResortUsesNew(it)
            }

    fun apply(writes: List<PendingWrites>) {
        for (write in writes) {
            val identity = write.peerIdentity
            if (identity != null && !(write.peerIdentityFirstUse && write.address in peers)) {
                peers[write.address] = identity
            }
            sessions[write.address] = Stored(write.generation, write.session)
            write.consumedOneTimePrekeys.forEach { oneTime.remove(it) }
            write.consumedKemPrekeys.forEach { kem.remove(it) }
            write.lastResortUses.forEach { lastResortUses.add(useKey(it)) }
        }
        commits += 1
        committed.add(writes)
    }

    /** Checks every write, then applies them all, under the lock: one compare-and-swap. */
    override fun commit(writes: List<PendingWrites>) = locked {
        if (!admits(writes)) throw StoreException.Conflict()
        apply(writes)
    }
}
