// Sotto through its Swift binding: conversations, a store written in
// Swift, errors as thrown errors, safety numbers and call keys. Mirrors
// bindings/kotlin/src/test/kotlin/sotto/SottoTest.kt test for test.
//
// Not compiled on the machines this project is developed on (no Swift
// toolchain there); see bindings/README.md.

import Foundation
import XCTest

@testable import Sotto

let aliceAddress = Address(account: "alice", device: 1)
let bobAddress = Address(account: "bob", device: 1)

func inMemory(_ address: Address) throws -> SessionManager {
    try SessionManager.withInMemoryStore(
        address: address, store: InMemoryStore(identity: IdentityKeyPair.generate()))
}

/// What a server would hand out for `manager`'s device.
func bundleOf(_ manager: SessionManager, signedId: UInt32 = 1, oneTimeId: UInt32 = 100) throws -> Data {
    let signed = try manager.generateSignedPrekey(id: signedId)
    let oneTime = try manager.generateOneTimePrekeys(firstId: oneTimeId, count: 1).first
    return try PreKeyBundle(
        identityKey: manager.identityKey(), signedPrekey: signed, oneTimePrekey: oneTime
    ).toBytes()
}

/// Alice starts a session from Bob's bundle; Bob answers.
func connect(_ alice: SessionManager, _ bob: SessionManager) throws {
    try alice.processBundle(address: bobAddress, bundle: bundleOf(bob))
    let received = try bob.decrypt(
        address: aliceAddress, message: alice.encrypt(address: bobAddress, plaintext: Data("hello Bob".utf8)))
    XCTAssertTrue(received.startedSession())
    XCTAssertEqual(received.plaintext(), Data("hello Bob".utf8))
    try received.commit()
    let reply = try bob.encrypt(address: aliceAddress, plaintext: Data("hello Alice".utf8))
    XCTAssertEqual(try alice.decryptAndCommit(address: bobAddress, message: reply), Data("hello Alice".utf8))
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

func utf8(_ text: String) -> Data { Data(text.utf8) }

/// A store error that is not a `StoreError`: it arrives as one all the same.
struct DatabaseLocked: Error, CustomStringConvertible {
    var description: String { "database locked" }
}

/// A ProtocolStore in Swift dictionaries: records are opaque bytes.
final class MapStore: ProtocolStore, @unchecked Sendable {
    private let lock = NSLock()
    private let identity: Data
    var peers: [Address: Data] = [:]
    var signed: [UInt32: Data] = [:]
    var oneTime: [UInt32: Data] = [:]
    var sessions: [Address: Data] = [:]
    var failWith: Error?
    var commits = 0

    init(identity: IdentityKeyPair) { self.identity = identity.toRecordBytes() }

    private func locked<T>(_ body: () throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        if let error = failWith { throw error }
        return try body()
    }

    func localIdentity() throws -> Data? { try locked { identity } }
    func peerIdentity(address: Address) throws -> Data? { try locked { peers[address] } }
    func savePeerIdentity(address: Address, record: Data) throws { try locked { peers[address] = record } }
    func signedPrekey(id: UInt32) throws -> Data? { try locked { signed[id] } }
    func saveSignedPrekey(id: UInt32, record: Data) throws { try locked { signed[id] = record } }
    func removeSignedPrekey(id: UInt32) throws { try locked { signed[id] = nil } }
    func oneTimePrekey(id: UInt32) throws -> Data? { try locked { oneTime[id] } }
    func saveOneTimePrekey(id: UInt32, record: Data) throws { try locked { oneTime[id] = record } }
    func removeOneTimePrekey(id: UInt32) throws { try locked { oneTime[id] = nil } }
    func loadSession(address: Address) throws -> Data? { try locked { sessions[address] } }
    func storeSession(address: Address, record: Data) throws { try locked { sessions[address] = record } }

    /// All writes of one message under one lock: a transaction.
    func commit(commit: PendingWrites) throws {
        try locked {
            if let identity = commit.newPeerIdentity { peers[commit.address] = identity }
            sessions[commit.address] = commit.session
            if let used = commit.consumedOneTimePrekey { oneTime[used] = nil }
            commits += 1
        }
    }
}

final class SottoTests: XCTestCase {
    func testTwoPartyConversationWithOutOfOrderDelivery() throws {
        let alice = try inMemory(aliceAddress)
        let bob = try inMemory(bobAddress)
        try connect(alice, bob)

        let sent = try (0..<5).map { try alice.encrypt(address: bobAddress, plaintext: utf8("message \($0)")) }
        for i in [3, 0, 4, 2, 1] {
            XCTAssertEqual(try bob.decryptAndCommit(address: aliceAddress, message: sent[i]), utf8("message \(i)"))
        }

        // Turns of both sides move the DH ratchet; a message of an earlier
        // turn arrives late.
        let late = try bob.encrypt(address: aliceAddress, plaintext: utf8("late"))
        for turn in 0..<3 {
            let reply = try bob.encrypt(address: aliceAddress, plaintext: utf8("bob \(turn)"))
            XCTAssertEqual(try alice.decryptAndCommit(address: bobAddress, message: reply), utf8("bob \(turn)"))
            let answer = try alice.encrypt(address: bobAddress, plaintext: utf8("alice \(turn)"))
            XCTAssertEqual(try bob.decryptAndCommit(address: aliceAddress, message: answer), utf8("alice \(turn)"))
        }
        XCTAssertEqual(try alice.decryptAndCommit(address: bobAddress, message: late), utf8("late"))
        XCTAssertTrue(try alice.hasSession(address: bobAddress))
        XCTAssertTrue(try bob.hasSession(address: aliceAddress))
    }

    func testAStoreWrittenInSwift() throws {
        let store = MapStore(identity: IdentityKeyPair.generate())
        let bob = try SessionManager.withStore(address: bobAddress, store: store)
        let alice = try inMemory(aliceAddress)
        try connect(alice, bob)

        // Bob's state lives in the Swift store, as opaque records.
        XCTAssertEqual(Set(store.signed.keys), [1])
        XCTAssertTrue(store.oneTime.isEmpty, "the first message consumed the one-time prekey")
        XCTAssertNotNil(store.peers[aliceAddress])
        XCTAssertNotNil(store.sessions[aliceAddress])
        XCTAssertEqual(store.commits, 1)

        // A message is not stored until committed: it decrypts again.
        let message = try alice.encrypt(address: bobAddress, plaintext: utf8("handle me once"))
        let uncommitted = try bob.decrypt(address: aliceAddress, message: message)
        XCTAssertEqual(uncommitted.plaintext(), utf8("handle me once"))
        XCTAssertEqual(store.commits, 1)
        let again = try bob.decrypt(address: aliceAddress, message: message)
        try again.commit()
        XCTAssertEqual(store.commits, 2)
        assertThrowsSotto(try again.commit()) { $0 == .AlreadyCommitted }
        assertThrowsSotto(try bob.decrypt(address: aliceAddress, message: message)) {
            if case .DuplicateMessage = $0 { true } else { false }
        }
        // The copy decrypted before that commit is stale: committing it would undo it.
        assertThrowsSotto(try uncommitted.commit()) { $0 == .StaleDecryption }

        // A second manager over the same store carries the session on.
        let bobAgain = try SessionManager.withStore(address: bobAddress, store: store)
        let afterRestart = try alice.encrypt(address: bobAddress, plaintext: utf8("after restart"))
        XCTAssertEqual(try bobAgain.decryptAndCommit(address: aliceAddress, message: afterRestart), utf8("after restart"))
        let stillHere = try bobAgain.encrypt(address: aliceAddress, plaintext: utf8("still here"))
        XCTAssertEqual(try alice.decryptAndCommit(address: bobAddress, message: stillHere), utf8("still here"))
    }

    func testThePersistentStoreKeepsSessionsAcrossRestarts() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("bob.sqlite").path
        let key = generateStorageKey()
        let identity = IdentityKeyPair.generate()
        let alice = try inMemory(aliceAddress)
        do {
            let store = try SqliteStore.create(path: path, storageKey: key, identity: identity)
            try connect(alice, SessionManager.withSqliteStore(address: bobAddress, store: store))
            XCTAssertEqual(try store.oneTimePrekeyCount(), 0)
        }

        let bob = try SessionManager.withSqliteStore(
            address: bobAddress, store: SqliteStore.open(path: path, storageKey: key))
        XCTAssertEqual(try bob.identityKey(), identity.publicKey())
        let message = try alice.encrypt(address: bobAddress, plaintext: utf8("after restart"))
        XCTAssertEqual(try bob.decryptAndCommit(address: aliceAddress, message: message), utf8("after restart"))

        assertThrowsSotto(try SqliteStore.open(path: path, storageKey: generateStorageKey())) {
            $0 == .WrongStorageKey
        }
        assertThrowsSotto(try SqliteStore.open(path: path, storageKey: utf8("short key"))) {
            if case .InvalidArgument = $0 { true } else { false }
        }
        assertThrowsSotto(try SqliteStore.create(path: path, storageKey: key, identity: identity)) {
            if case .Store = $0 { true } else { false }
        }
    }

    func testStoreFailuresArriveAsStoreErrors() throws {
        let store = MapStore(identity: IdentityKeyPair.generate())
        let bob = try SessionManager.withStore(address: bobAddress, store: store)
        let alice = try inMemory(aliceAddress)
        try connect(alice, bob)
        let message = try alice.encrypt(address: bobAddress, plaintext: utf8("during an outage"))

        store.failWith = StoreError.Backend(reason: "disk full")
        assertThrowsSotto(try bob.decrypt(address: aliceAddress, message: message)) {
            if case .Store(let reason) = $0 { reason.contains("disk full") } else { false }
        }

        // An error that is not a StoreError is a store failure too.
        store.failWith = DatabaseLocked()
        assertThrowsSotto(try bob.encrypt(address: aliceAddress, plaintext: utf8("x"))) {
            if case .Store(let reason) = $0 { reason.contains("database locked") } else { false }
        }

        // A failed commit leaves the message committable once the store is back.
        store.failWith = nil
        let received = try bob.decrypt(address: aliceAddress, message: message)
        store.failWith = StoreError.Backend(reason: "disk full")
        assertThrowsSotto(try received.commit()) { if case .Store = $0 { true } else { false } }
        store.failWith = nil
        try received.commit()
        XCTAssertEqual(received.plaintext(), utf8("during an outage"))
    }

    func testACorruptRecordIsRefused() throws {
        let store = MapStore(identity: IdentityKeyPair.generate())
        let bob = try SessionManager.withStore(address: bobAddress, store: store)
        try connect(inMemory(aliceAddress), bob)
        store.sessions[aliceAddress] = Data([0xff, 0, 1, 2])
        assertThrowsSotto(try bob.encrypt(address: aliceAddress, plaintext: utf8("x"))) {
            if case .CorruptRecord = $0 { true } else { false }
        }
    }

    func testTypedErrorsArriveAsThrownErrors() throws {
        let alice = try inMemory(aliceAddress)
        let bob = try inMemory(bobAddress)
        assertThrowsSotto(try alice.encrypt(address: bobAddress, plaintext: utf8("no session yet"))) {
            $0 == .NoSession
        }
        try connect(alice, bob)

        assertThrowsSotto(try bob.decrypt(address: aliceAddress, message: Data([0, 1, 2, 3]))) {
            if case .MalformedMessage = $0 { true } else { false }
        }

        let message = try alice.encrypt(address: bobAddress, plaintext: utf8("once"))
        var tampered = message
        tampered[tampered.count - 1] ^= 1
        assertThrowsSotto(try bob.decrypt(address: aliceAddress, message: tampered)) { $0 == .AuthenticationFailed }

        XCTAssertEqual(try bob.decryptAndCommit(address: aliceAddress, message: message), utf8("once"))
        assertThrowsSotto(try bob.decrypt(address: aliceAddress, message: message)) {
            if case .DuplicateMessage = $0 { true } else { false }
        }

        assertThrowsSotto(try alice.processBundle(address: bobAddress, bundle: Data([1, 2, 3]))) {
            if case .InvalidBundle = $0 { true } else { false }
        }
        assertThrowsSotto(try alice.encrypt(address: Address(account: "", device: 1), plaintext: utf8("x"))) {
            if case .InvalidArgument = $0 { true } else { false }
        }
        assertThrowsSotto(try alice.trustIdentity(address: bobAddress, identityKey: utf8("short"), verified: false)) {
            if case .InvalidArgument = $0 { true } else { false }
        }
        assertThrowsSotto(try IdentityKeyPair.fromRecordBytes(record: Data([0xff, 0xff]))) {
            if case .CorruptRecord = $0 { true } else { false }
        }
    }

    func testIdentityChangeIsRefusedUntilTrusted() throws {
        let alice = try inMemory(aliceAddress)
        let bob = try inMemory(bobAddress)
        try connect(alice, bob)

        // Bob reinstalls: a new identity key under the same address.
        let newBob = try inMemory(bobAddress)
        let newBundle = try bundleOf(newBob)
        let changed = assertThrowsSotto(try alice.processBundle(address: bobAddress, bundle: newBundle)) {
            if case .UntrustedIdentity = $0 { true } else { false }
        }
        guard case .UntrustedIdentity(let address, let identityKey) = changed else {
            return XCTFail("expected UntrustedIdentity")
        }
        XCTAssertEqual(address, bobAddress)
        XCTAssertEqual(identityKey, try newBob.identityKey())

        // A first message from the new Bob is refused the same way.
        try newBob.processBundle(address: aliceAddress, bundle: bundleOf(alice, signedId: 2, oneTimeId: 200))
        let first = try newBob.encrypt(address: aliceAddress, plaintext: utf8("it's me, really"))
        assertThrowsSotto(try alice.decrypt(address: bobAddress, message: first)) {
            if case .UntrustedIdentity = $0 { true } else { false }
        }

        // Once the user accepts the new key, the session can be replaced.
        try alice.trustIdentity(address: bobAddress, identityKey: identityKey, verified: false)
        try alice.processBundle(address: bobAddress, bundle: newBundle)
        let welcome = try alice.encrypt(address: bobAddress, plaintext: utf8("welcome back"))
        XCTAssertEqual(try newBob.decryptAndCommit(address: aliceAddress, message: welcome), utf8("welcome back"))
    }

    func testSafetyNumbersAgreeOnBothSides() throws {
        let alice = try inMemory(aliceAddress)
        let bob = try inMemory(bobAddress)
        XCTAssertNil(try alice.safetyNumber(address: bobAddress))
        try connect(alice, bob)
        let onAlice = try XCTUnwrap(alice.safetyNumber(address: bobAddress))
        let onBob = try XCTUnwrap(bob.safetyNumber(address: aliceAddress))
        XCTAssertEqual(onAlice.displayable(), onBob.displayable())
        XCTAssertEqual(onAlice.displayable().count, 60)
        XCTAssertEqual(onAlice.grouped().split(separator: " ").count, 12)
        XCTAssertTrue(try onBob.matchesScanned(scanned: onAlice.scannable()))
        let direct = try SafetyNumber(
            localAddress: aliceAddress, localIdentityKey: alice.identityKey(),
            remoteAddress: bobAddress, remoteIdentityKey: bob.identityKey())
        XCTAssertEqual(direct.displayable(), onAlice.displayable())
        assertThrowsSotto(try onBob.matchesScanned(scanned: Data([0, 0, 0]))) {
            if case .InvalidArgument = $0 { true } else { false }
        }
    }

    func testCallKeysAndAnSframeRoundTrip() throws {
        let alice = try inMemory(aliceAddress)
        let bob = try inMemory(bobAddress)
        try connect(alice, bob)
        let callId = utf8("call-0001")
        let suite = CipherSuite.aes128GcmSha256128
        let onAlice = try alice.callKeys(address: bobAddress, callId: callId)
        let onBob = try bob.callKeys(address: aliceAddress, callId: callId)
        XCTAssertEqual(onAlice.sendKid(), onBob.receiveKid())
        XCTAssertEqual(onAlice.sendBaseKey(), onBob.receiveBaseKey())

        let sender = try onAlice.sender(suite: suite)
        let receiver = try onBob.receiver(suite: suite)
        let metadata = utf8("rtp header")
        let frame = try sender.encrypt(metadata: metadata, frame: utf8("an opus frame"))
        XCTAssertEqual(try receiver.decrypt(metadata: metadata, frame: frame), utf8("an opus frame"))
        assertThrowsSotto(try receiver.decrypt(metadata: metadata, frame: frame)) {
            if case .FrameReplayed = $0 { true } else { false }
        }
        let another = try sender.encrypt(metadata: metadata, frame: utf8("x"))
        assertThrowsSotto(try receiver.decrypt(metadata: utf8("other metadata"), frame: another)) {
            $0 == .AuthenticationFailed
        }

        let back = try onBob.sender(suite: suite).encrypt(metadata: Data(), frame: utf8("answer"))
        XCTAssertEqual(try onAlice.receiver(suite: suite).decrypt(metadata: Data(), frame: back), utf8("answer"))
        XCTAssertFalse(try onAlice.receiver(suite: suite).hasKey(kid: onAlice.sendKid()))
        assertThrowsSotto(try alice.callKeys(address: bobAddress, callId: Data())) {
            if case .InvalidArgument = $0 { true } else { false }
        }
    }

    func testGroupCallSenderKeysOverDmSessions() throws {
        let alice = try inMemory(aliceAddress)
        let bob = try inMemory(bobAddress)
        try connect(alice, bob)
        let callId = utf8("standup-42")
        let suite = CipherSuite.chaCha20Poly1305Sha256128
        let onAlice = try GroupCall(callId: callId, suite: suite, me: 1, epoch: 0)
        let onBob = try GroupCall(callId: callId, suite: suite, me: 2, epoch: 0)

        // Each sends its sender key inside the DM session.
        let fromAlice = try bob.decryptAndCommit(
            address: aliceAddress, message: alice.encrypt(address: bobAddress, plaintext: onAlice.senderKeyMessage()))
        XCTAssertEqual(try onBob.receiveSenderKey(expectedSender: 1, message: fromAlice).participant, 1)
        let fromBob = try alice.decryptAndCommit(
            address: bobAddress, message: bob.encrypt(address: aliceAddress, plaintext: onBob.senderKeyMessage()))
        _ = try onAlice.receiveSenderKey(expectedSender: 2, message: fromBob)
        XCTAssertEqual(onAlice.participants(), [1, 2])
        let frame = try onAlice.encrypt(metadata: Data(), frame: utf8("frame"))
        XCTAssertEqual(try onBob.decrypt(metadata: Data(), frame: frame), utf8("frame"))
        assertThrowsSotto(try onAlice.receiveSenderKey(expectedSender: 2, message: fromBob)) {
            if case .SenderKeyRejected = $0 { true } else { false }
        }

        // Carol joins: Alice's key ratchets; Carol gets the new step only.
        let onCarol = try GroupCall(callId: callId, suite: suite, me: 3, epoch: 0)
        _ = try onCarol.receiveSenderKey(expectedSender: 1, message: onAlice.participantJoined(participant: 3))
        let stepOne = try onAlice.encrypt(metadata: Data(), frame: utf8("step 1"))
        XCTAssertEqual(onAlice.keyId().step, 1)
        XCTAssertEqual(try onCarol.decrypt(metadata: Data(), frame: stepOne), utf8("step 1"))
        XCTAssertEqual(try onBob.decrypt(metadata: Data(), frame: stepOne), utf8("step 1"))

        // Bob leaves: Alice moves to epoch 1; Bob cannot read her frames.
        _ = try onCarol.receiveSenderKey(expectedSender: 1, message: onAlice.participantLeft(participant: 2))
        XCTAssertEqual(onAlice.epoch(), 1)
        let epochOne = try onAlice.encrypt(metadata: Data(), frame: utf8("epoch 1"))
        XCTAssertEqual(try onCarol.decrypt(metadata: Data(), frame: epochOne), utf8("epoch 1"))
        assertThrowsSotto(try onBob.decrypt(metadata: Data(), frame: epochOne)) {
            if case .FrameRejected = $0 { true } else { false }
        }
        assertThrowsSotto(try onAlice.participantJoined(participant: 1)) {
            if case .InvalidArgument = $0 { true } else { false }
        }
    }
}
