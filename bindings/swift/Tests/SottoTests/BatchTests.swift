// Batches: many queued messages decrypted, then committed in one store
// transaction. Mirrors bindings/kotlin/src/test/kotlin/sotto/BatchTest.kt.

import Foundation
import XCTest

@testable import Sotto

final class BatchTests: XCTestCase {
    func testQueuedMessagesAreDecryptedAndCommittedAtOnce() throws {
        let store = MapStore(identity: IdentityKeyPair.generate())
        let bob = try SessionManager.withStore(address: bobAddress, store: store)
        let alice = try inMemory(aliceAddress)
        let carol = try inMemory(carolAddress)
        try connect(alice, bob, signedId: 1, oneTimeId: 100)
        try connect(carol, bob, signedId: 2, oneTimeId: 200)

        // Interleaved, as a server may deliver them.
        var queued: [(Address, Data)] = []
        for n in 0..<50 {
            let fromAlice = try alice.encrypt(address: bobAddress, plaintext: utf8("alice \(n)"))
            let fromCarol = try carol.encrypt(address: bobAddress, plaintext: utf8("carol \(n)"))
            queued += [(aliceAddress, fromAlice), (carolAddress, fromCarol)]
        }
        let batch = bob.batch()
        XCTAssertTrue(batch.isEmpty())
        let commits = store.commits
        let plaintexts = try Set(queued.map { try batch.decrypt(address: $0.0, message: $0.1) })
        let expected = Set(["alice", "carol"].flatMap { who in (0..<50).map { utf8("\(who) \($0)") } })
        XCTAssertEqual(plaintexts, expected)
        XCTAssertEqual(batch.len(), 100)
        XCTAssertEqual(store.commits, commits, "nothing is stored before the commit")
        try batch.commit()
        XCTAssertEqual(store.commits, commits + 1, "one store transaction for the whole batch")

        assertThrowsSotto(try batch.commit()) { $0 == .AlreadyCommitted }
        assertThrowsSotto(try batch.decrypt(address: aliceAddress, message: queued[0].1)) { $0 == .AlreadyCommitted }
        for (sender, message) in queued {
            assertThrowsSotto(try bob.decrypt(address: sender, message: message)) {
                if case .DuplicateMessage = $0 { true } else { false }
            }
        }
        XCTAssertEqual(try send(bob, alice, utf8("caught up")), utf8("caught up"))
    }

    func testAnUncommittedBatchStoresNothing() throws {
        let alice = try inMemory(aliceAddress)
        let bob = try inMemory(bobAddress)
        try connect(alice, bob)
        let queued = try (0..<5).map { try alice.encrypt(address: bobAddress, plaintext: utf8("\($0)")) }
        do {
            let dropped = bob.batch()
            for message in queued { _ = try dropped.decrypt(address: aliceAddress, message: message) }
        }

        // A failed message changes nothing in the batch either.
        let batch = bob.batch()
        assertThrowsSotto(try batch.decrypt(address: aliceAddress, message: utf8("not a message"))) {
            if case .MalformedMessage = $0 { true } else { false }
        }
        XCTAssertEqual(
            try queued.map { try batch.decrypt(address: aliceAddress, message: $0) },
            ["0", "1", "2", "3", "4"].map(utf8))
        assertThrowsSotto(try batch.decrypt(address: aliceAddress, message: queued[0])) {
            if case .DuplicateMessage = $0 { true } else { false }
        }
        XCTAssertEqual(batch.len(), 5)
        try batch.commit()
    }

    func testABatchIsStaleAfterAWriteToItsAddress() throws {
        let alice = try inMemory(aliceAddress)
        let bob = try inMemory(bobAddress)
        try connect(alice, bob)
        let queued = try (0..<3).map { try alice.encrypt(address: bobAddress, plaintext: utf8("\($0)")) }
        let batch = bob.batch()
        for message in queued { _ = try batch.decrypt(address: aliceAddress, message: message) }
        let reply = try bob.encrypt(address: aliceAddress, plaintext: utf8("written in between"))
        assertThrowsSotto(try batch.commit()) { $0 == .StaleDecryption }

        // Decrypted again, in a new batch, from the newer state.
        let again = bob.batch()
        XCTAssertEqual(try queued.map { try again.decrypt(address: aliceAddress, message: $0) }, ["0", "1", "2"].map(utf8))
        try again.commit()
        XCTAssertEqual(try alice.decryptAndCommit(address: bobAddress, message: reply), utf8("written in between"))
    }
}
