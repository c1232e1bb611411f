// The commit contract through the binding: a store written in Kotlin passes
// the conformance check, and stores that break one rule fail it.
package sotto

import kotlin.concurrent.withLock
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import uniffi.sotto.IdentityKeyPair
import uniffi.sotto.PendingWrites
import uniffi.sotto.SottoException
import uniffi.sotto.StoreException
import uniffi.sotto.checkStoreConformance

/** Applies every commit, whatever generation it expects. */
class IgnoresGeneration : MapStore(IdentityKeyPair.generate()) {
    override fun generationMatches(write: PendingWrites) = true
}

/** Replaces a recorded identity even on first use. */
class IgnoresFirstUse : MapStore(IdentityKeyPair.generate()) {
    override fun identityAdmitted(write: PendingWrites) = true
}

/** Lets a commit consume a one-time prekey that is gone. */
class IgnoresConsumedPrekeys : MapStore(IdentityKeyPair.generate()) {
    override fun prekeysPresent(write: PendingWrites) = true
}

/** Lets a commit consume a one-time KEM prekey that is gone. */
class IgnoresConsumedKemPrekeys : MapStore(IdentityKeyPair.generate()) {
    override fun kemPrekeysPresent(write: PendingWrites) = true
}

/**
 * Records a last-resort use again, or of a KEM prekey that is gone: a
 * replayed first message would start a second session.
 */
class IgnoresLastResortUses : MapStore(IdentityKeyPair.generate()) {
    override fun lastResortUsesNew(write: PendingWrites) = true
}

/** Lets two writes of one batch record the same last-resort use. */
class IgnoresBatchDuplicates : MapStore(IdentityKeyPair.generate()) {
    override fun consumedOnce(writes: List<PendingWrites>) = true
}

/**
 * Checks, then applies, with the lock released in between: two threads can
 * both advance a session from one generation.
 */
class RacesCommits : MapStore(IdentityKeyPair.generate()) {
    override fun commit(writes: List<PendingWrites>) {
        if (!lock.withLock { admits(writes) }) throw StoreException.Conflict()
        Thread.sleep(1) // another thread checks the same generation here
        lock.withLock { apply(writes) }
    }
}

class StoreContractTest {
    @Test
    fun aKotlinStoreKeepingTheContractPassesTheCheck() {
        checkStoreConformance(MapStore(IdentityKeyPair.generate()), 8u)
        checkStoreConformance(MapStore(IdentityKeyPair.generate()), 1u)
    }

    private fun failsOn(check: String, store: MapStore, threads: UInt = 8u) {
        val failed = assertThrows(SottoException.ConformanceFailed::class.java) {
            checkStoreConformance(store, threads)
        }
        assertEquals(check, failed.check)
        assertTrue(failed.detail.isNotEmpty())
    }

    @Test
    fun aStoreIgnoringTheGenerationFailsTheCheck() =
        failsOn("compare-and-swap on the generation", IgnoresGeneration())

    @Test
    fun aStoreIgnoringFirstUseFailsTheCheck() = failsOn("first-use identities", IgnoresFirstUse())

    @Test
    fun aStoreIgnoringConsumedPrekeysFailsTheCheck() =
        failsOn("consumed one-time prekeys", IgnoresConsumedPrekeys())

    @Test
    fun aStoreIgnoringConsumedKemPrekeysFailsTheCheck() = failsOn("KEM prekeys", IgnoresConsumedKemPrekeys())

    @Test
    fun aStoreIgnoringLastResortUsesFailsTheCheck() = failsOn("KEM prekeys", IgnoresLastResortUses())

    @Test
    fun aStoreIgnoringDuplicatesInABatchFailsTheCheck() = failsOn("KEM prekeys", IgnoresBatchDuplicates())

    @Test
    fun aStoreWhoseCommitIsNotAtomicFailsTheConcurrentCheck() {
        failsOn("concurrent compare-and-swaps", RacesCommits())
        // From one thread nothing races: the other checks pass.
        checkStoreConformance(RacesCommits(), 1u)
    }
}
