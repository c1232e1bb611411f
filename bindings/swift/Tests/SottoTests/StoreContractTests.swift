// The commit contract through the binding: a store written in Swift passes
// the conformance check, and stores that break one rule fail it. Mirrors
// bindings/kotlin/src/test/kotlin/sotto/StoreContractTest.kt.

import Foundation
import XCTest

@testable import Sotto

/// Applies every commit, whatever generation it expects.
final class IgnoresGeneration: MapStore {
    override func generationMatches(_ write: PendingWrites) -> Bool { true }
}

/// Replaces a recorded identity even on first use.
final class IgnoresFirstUse: MapStore {
    override func identityAdmitted(_ write: PendingWrites) -> Bool { true }
}

/// Lets a commit consume a one-time prekey that is gone.
final class IgnoresConsumedPrekeys: MapStore {
    override func prekeysPresent(_ write: PendingWrites) -> Bool { true }
}

/// Lets a commit consume a one-time KEM prekey that is gone.
final class IgnoresConsumedKemPrekeys: MapStore {
    override func kemPrekeysPresent(_ write: PendingWrites) -> Bool { true }
}

/// Records a last-resort use again, or of a KEM prekey that is gone: a
/// replayed first message would start a second session.
final class IgnoresLastResortUses: MapStore {
    override func lastResortUsesNew(_ write: PendingWrites) -> Bool { true }
}

/// Lets two writes of one batch record the same last-resort use.
final class IgnoresBatchDuplicates: MapStore {
    override func consumedOnce(_ writes: [PendingWrites]) -> Bool { true }
}

/// Checks, then applies, with the lock released in between: two threads can
/// both advance a session from one generation.
final class RacesCommits: MapStore {
    override func commit(writes: [PendingWrites]) throws {
        lock.lock()
        let admitted = admits(writes)
        lock.unlock()
        guard admitted else { throw StoreError.Conflict }
        Thread.sleep(forTimeInterval: 0.001) // another thread checks the same generation here
        lock.lock()
        apply(writes)
        lock.unlock()
    }
}

final class StoreContractTests: XCTestCase {
    func testASwiftStoreKeepingTheContractPassesTheCheck() throws {
        try checkStoreConformance(store: MapStore(identity: IdentityKeyPair.generate()), threads: 4)
        try checkStoreConformance(store: MapStore(identity: IdentityKeyPair.generate()), threads: 1)
    }

    private func assertFails(
        _ store: MapStore, on expected: String, threads: UInt32 = 4,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        assertThrowsSotto(try checkStoreConformance(store: store, threads: threads), file: file, line: line) {
            if case .ConformanceFailed(let check, let detail) = $0 { check == expected && !detail.isEmpty } else { false }
        }
    }

    func testAStoreIgnoringTheGenerationFailsTheCheck() {
        assertFails(IgnoresGeneration(identity: IdentityKeyPair.generate()), on: "compare-and-swap on the generation")
    }

    func testAStoreIgnoringFirstUseFailsTheCheck() {
        assertFails(IgnoresFirstUse(identity: IdentityKeyPair.generate()), on: "first-use identities")
    }

    func testAStoreIgnoringConsumedPrekeysFailsTheCheck() {
        assertFails(IgnoresConsumedPrekeys(identity: IdentityKeyPair.generate()), on: "consumed one-time prekeys")
    }

    func testAStoreIgnoringConsumedKemPrekeysFailsTheCheck() {
        assertFails(IgnoresConsumedKemPrekeys(identity: IdentityKeyPair.generate()), on: "KEM prekeys")
    }

    func testAStoreIgnoringLastResortUsesFailsTheCheck() {
        assertFails(IgnoresLastResortUses(identity: IdentityKeyPair.generate()), on: "KEM prekeys")
    }

    func testAStoreIgnoringDuplicatesInABatchFailsTheCheck() {
        assertFails(IgnoresBatchDuplicates(identity: IdentityKeyPair.generate()), on: "KEM prekeys")
    }

    func testAStoreWhoseCommitIsNotAtomicFailsTheConcurrentCheck() throws {
        assertFails(RacesCommits(identity: IdentityKeyPair.generate()), on: "concurrent compare-and-swaps", threads: 8)
        // From one thread nothing races: the other checks pass.
        try checkStoreConformance(store: RacesCommits(identity: IdentityKeyPair.generate()), threads: 1)
    }
}
