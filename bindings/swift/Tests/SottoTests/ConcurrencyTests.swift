// Many threads encrypting to one peer through one manager: every message
// must use its own key (the key-reuse bug of load, change, store without a
// compare-and-swap), so the receiver decrypts each one exactly once.
// Mirrors bindings/kotlin/src/test/kotlin/sotto/ConcurrencyTest.kt.

import Foundation
import XCTest

@testable import Sotto

let threadCount = 8
let encryptionsPerThread = 200

/// Encrypts to Bob, trying again while another manager over the same store
/// keeps winning the compare-and-swap (`Contended`: nothing was stored or
/// handed out), as an app does.
func encryptRetrying(_ manager: SessionManager, _ plaintext: Data) throws -> Data {
    while true {
        do {
            return try manager.encrypt(address: bobAddress, plaintext: plaintext)
        } catch SottoError.Contended {
            continue
        }
    }
}

/// `threadCount` threads × `encryptionsPerThread` encryptions through
/// `managers` (one store), then Bob decrypts every message once.
func encryptFromThreadsThenDecryptEachOnce(_ managers: [SessionManager]) throws {
    let bob = try inMemory(bobAddress)
    try connect(managers[0], bob)

    // In the order encryptions returned: close to the chain's.
    let lock = NSLock()
    var sent: [Data] = []
    var failures: [Error] = []
    DispatchQueue.concurrentPerform(iterations: threadCount) { thread in
        let manager = managers[thread % managers.count]
        do {
            for n in 0..<encryptionsPerThread {
                let message = try encryptRetrying(manager, utf8("\(thread):\(n)"))
                lock.lock()
                sent.append(message)
                lock.unlock()
            }
        } catch {
            lock.lock()
            failures.append(error)
            lock.unlock()
        }
    }
    XCTAssertTrue(failures.isEmpty, "\(failures)")
    XCTAssertEqual(sent.count, threadCount * encryptionsPerThread)
    XCTAssertEqual(Set(sent).count, sent.count)

    // Every envelope decrypts, each to its own plaintext: two encryptions
    // under one message key would make the second a duplicate.
    let received = try sent.map { try bob.decryptAndCommit(address: aliceAddress, message: $0) }
    let expected = (0..<threadCount).flatMap { t in (0..<encryptionsPerThread).map { utf8("\(t):\($0)") } }
    XCTAssertEqual(Set(received).count, threadCount * encryptionsPerThread)
    XCTAssertEqual(Set(received), Set(expected))
    // And exactly once.
    for message in sent {
        assertThrowsSotto(try bob.decrypt(address: aliceAddress, message: message)) {
            if case .DuplicateMessage = $0 { true } else { false }
        }
    }
    XCTAssertEqual(try send(bob, managers[0], utf8("all received")), utf8("all received"))
}

final class ConcurrencyTests: XCTestCase {
    func testThreadsOverTheInMemoryStoreNeverReuseAKey() throws {
        try encryptFromThreadsThenDecryptEachOnce([inMemory(aliceAddress)])
    }

    func testThreadsOverTheSqliteStoreNeverReuseAKey() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try SqliteStore.create(
            path: directory.appendingPathComponent("alice.sqlite").path,
            storageKey: generateStorageKey(), identity: IdentityKeyPair.generate())
        try encryptFromThreadsThenDecryptEachOnce([SessionManager.withSqliteStore(address: aliceAddress, store: store)])
    }

    func testTwoManagersOverOneSwiftStoreNeverReuseAKey() throws {
        // Only the store's compare-and-swap keeps the two managers apart.
        let store = MapStore(identity: IdentityKeyPair.generate())
        let managers = try (0..<2).map { _ in try SessionManager.withStore(address: aliceAddress, store: store) }
        try encryptFromThreadsThenDecryptEachOnce(managers)
        XCTAssertGreaterThanOrEqual(store.commits, threadCount * encryptionsPerThread)
    }
}
