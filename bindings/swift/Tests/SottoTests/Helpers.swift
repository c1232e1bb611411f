// What the test classes share: addresses, managers with a session, and a
// store written in Swift that keeps the commit contract (subclasses break
// it). Mirrors bindings/kotlin/src/test/kotlin/sotto/Helpers.kt.
//
// Not compiled on the machines this project is developed on (no Swift
// toolchain there); see bindings/README.md.

import Foundation
import XCTest

@testable import Sotto

let aliceAddress = Address(account: "alice", device: 1)
let bobAddress = Address(account: "bob", device: 1)
let carolAddress = Address(account: "carol", device: 1)
let malloryAddress = Address(account: "mallory", device: 1)

func inMemory(_ address: Address) throws -> SessionManager {
    try SessionManager.withInMemoryStore(
        address: address, store: InMemoryStore(identity: IdentityKeyPair.generate()))
}

func utf8(_ text: String) -> Data { Data(text.utf8) }

/// What a server would hand out for `manager`'s device: a post-quantum
/// bundle with a one-time KEM prekey and a one-time prekey, both with id
/// `oneTimeId` (KEM prekeys have ids of their own).
func bundleOf(_ manager: SessionManager, signedId: UInt32 = 1, oneTimeId: UInt32 = 100) throws -> Data {
    let signed = try manager.generateSignedPrekey(id: signedId)
    let kem = try XCTUnwrap(manager.generateKemPrekeys(firstId: oneTimeId, count: 1).first)
    let oneTime = try manager.generateOneTimePrekeys(firstId: oneTimeId, count: 1).first
    return try PreKeyBundle(
        identityKey: manager.identityKey(), signedPrekey: signed, kemPrekey: kem, oneTimePrekey: oneTime
    ).toBytes()
}

/// `alice` starts a session from `bob`'s bundle; `bob` answers.
func connect(_ alice: SessionManager, _ bob: SessionManager, signedId: UInt32 = 1, oneTimeId: UInt32 = 100) throws {
    try alice.processBundle(address: bob.address(), bundle: bundleOf(bob, signedId: signedId, oneTimeId: oneTimeId))
    let received = try bob.decrypt(
        address: alice.address(), message: alice.encrypt(address: bob.address(), plaintext: utf8("hello")))
    XCTAssertTrue(received.startedSession())
    XCTAssertEqual(received.plaintext(), utf8("hello"))
    try received.commit()
    let reply = try bob.encrypt(address: alice.address(), plaintext: utf8("hi"))
    XCTAssertEqual(try alice.decryptAndCommit(address: bob.address(), message: reply), utf8("hi"))
}

/// `plaintext` from `sender` to `receiver` through their session.
func send(_ sender: SessionManager, _ receiver: SessionManager, _ plaintext: Data) throws -> Data {
    let message = try sender.encrypt(address: receiver.address(), plaintext: plaintext)
    return try receiver.decryptAndCommit(address: sender.address(), message: message)
}

/// Asserts that `expression` throws the `SottoError` that `matches` accepts,
/// and returns it.
@discardableResult
func assertThrowsSotto<T>(
    _ expression: @autoclosure () throws -> T,
    file: StaticString = #filePath,
    line: UInt = #line,
    _ matches: (SottoError) -> Bool
) -> SottoError? {
    var thrown: SottoError?
    XCTAssertThrowsError(try expression(), file: file, line: line) { error in
        guard let error = error as? SottoError, matches(error) else {
            return XCTFail("unexpected error: \(error)", file: file, line: line)
        }
        thrown = error
    }
    return thrown
}

/// A store error that is not a `StoreError`: it arrives as one all the same.
struct DatabaseLocked: Error, CustomStringConvertible {
    var description: String { "database locked" }
}

/// A session record as stored, with the generation it was committed with.
struct Stored {
    let generation: UInt64
    let record: Data
}

/// A ProtocolStore in Swift dictionaries under one lock: records are opaque
/// bytes, and each session's generation is kept beside its record.
class MapStore: ProtocolStore, @unchecked Sendable {
    let lock = NSLock()
    private let identity: Data
    var peers: [Address: Data] = [:]
    var signed: [UInt32: Data] = [:]
    var oneTime: [UInt32: Data] = [:]
    var kem: [UInt32: Data] = [:]
    var lastResortUses: Set<LastResortUse> = []
    var sessions: [Address: Stored] = [:]
    /// The writes of every commit, in order.
    var committed: [[PendingWrites]] = []
    var failWith: Error?
    var commits = 0

    init(identity: IdentityKeyPair) { self.identity = identity.toRecordBytes() }

    func locked<T>(_ body: () throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        if let error = failWith { throw error }
        return try body()
    }

    func localIdentity() throws -> Data? { try locked { identity } }
    func peerIdentity(address: Address) throws -> Data? { try locked { peers[address] } }
    func signedPrekey(id: UInt32) throws -> Data? { try locked { signed[id] } }
    func saveSignedPrekey(id: UInt32, record: Data) throws { try locked { signed[id] = record } }
    func removeSignedPrekey(id: UInt32) throws { try locked { signed[id] = nil } }
    func oneTimePrekey(id: UInt32) throws -> Data? { try locked { oneTime[id] } }
    func saveOneTimePrekey(id: UInt32, record: Data) throws { try locked { oneTime[id] = record } }
    func removeOneTimePrekey(id: UInt32) throws { try locked { oneTime[id] = nil } }
    func kemPrekey(id: UInt32) throws -> Data? { try locked { kem[id] } }
    func saveKemPrekey(id: UInt32, record: Data) throws { try locked { kem[id] = record } }
    /// Removes the KEM prekey and forgets its recorded last-resort uses.
    func removeKemPrekey(id: UInt32) throws {
        try locked { () -> Void in
            kem[id] = nil
            lastResortUses = lastResortUses.filter { $0.kemPrekey != id }
        }
    }
    func lastResortUseRecorded(id: UInt32, baseKey: Data) throws -> Bool {
        try locked { lastResortUses.contains(LastResortUse(kemPrekey: id, baseKey: baseKey)) }
    }
    func loadSession(address: Address) throws -> Data? { try locked { sessions[address]?.record } }

    // The checks of the contract, each its own method so that a test can
    // break one. Called with the lock held.

    func generationMatches(_ write: PendingWrites) -> Bool {
        sessions[write.address]?.generation == write.expectedGeneration
    }

    func identityAdmitted(_ write: PendingWrites) -> Bool {
        guard write.peerIdentityFirstUse, let recorded = peers[write.address] else { return true }
        return recorded == write.peerIdentity
    }

    func prekeysPresent(_ write: PendingWrites) -> Bool {
        write.consumedOneTimePrekeys.allSatisfy { oneTime[$0] != nil }
    }

    func kemPrekeysPresent(_ write: PendingWrites) -> Bool {
        write.consumedKemPrekeys.allSatisfy { kem[$0] != nil }
    }

    func lastResortUsesNew(_ write: PendingWrites) -> Bool {
        write.lastResortUses.allSatisfy { kem[$0.kemPrekey] != nil && !lastResortUses.contains($0) }
    }

    /// No two writes of the batch consume one prekey or record one use.
    func consumedOnce(_ writes: [PendingWrites]) -> Bool {
        let oneTimeIds = writes.flatMap { $0.consumedOneTimePrekeys }
        let kemIds = writes.flatMap { $0.consumedKemPrekeys }
        let uses = writes.flatMap { $0.lastResortUses }
        return Set(oneTimeIds).count == oneTimeIds.count && Set(kemIds).count == kemIds.count
            && Set(uses).count == uses.count
    }

    func admits(_ writes: [PendingWrites]) -> Bool {
        consumedOnce(writes)
            && writes.allSatisfy {
                generationMatches($0) && identityAdmitted($0) && prekeysPresent($0)
                    && kemPrekeysPresent($0) && lastResortUsesNew($0)
            }
    }

    func apply(_ writes: [PendingWrites]) {
        for write in writes {
            if let identity = write.peerIdentity, !(write.peerIdentityFirstUse && peers[write.address] != nil) {
                peers[write.address] = identity
            }
            sessions[write.address] = Stored(generation: write.generation, record: write.session)
            for id in write.consumedOneTimePrekeys { oneTime[id] = nil }
            for id in write.consumedKemPrekeys { kem[id] = nil }
            lastResortUses.formUnion(write.lastResortUses)
        }
        commits += 1
        committed.append(writes)
    }

    /// Checks every write, then applies them all, under the lock: one
    /// compare-and-swap of the whole batch.
    func commit(writes: [PendingWrites]) throws {
        try locked { () throws -> Void in
            guard admits(writes) else { throw StoreError.Conflict }
            apply(writes)
        }
    }
}
