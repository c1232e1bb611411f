// Sotto through its Swift binding: conversations, a store written in
// Swift, the persistent store, errors as thrown errors, trust decisions,
// safety numbers and group calls. Mirrors
// bindings/kotlin/src/test/kotlin/sotto/SottoTest.kt test for test.
//
// Not compiled on the machines this project is developed on (no Swift
// toolchain there); see bindings/README.md.

import Foundation
import XCTest

@testable import Sotto

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

        // Bob's state lives in the Swift store, as opaque records, each
        // session with its generation; every write went through commit.
        XCTAssertEqual(Set(store.signed.keys), [1])
        XCTAssertTrue(store.oneTime.isEmpty, "the first message consumed the one-time prekey")
        XCTAssertTrue(store.kem.isEmpty, "and the one-time KEM prekey")
        XCTAssertEqual(store.committed.first?.first?.consumedKemPrekeys, [100])
        XCTAssertNotNil(store.peers[aliceAddress])
        XCTAssertGreaterThan(try XCTUnwrap(store.sessions[aliceAddress]).generation, 0)
        XCTAssertEqual(store.commits, 2, "the first message's commit, then the reply's encryption")

        // A message is not stored until committed: it decrypts again.
        let message = try alice.encrypt(address: bobAddress, plaintext: utf8("handle me once"))
        let uncommitted = try bob.decrypt(address: aliceAddress, message: message)
        XCTAssertEqual(uncommitted.plaintext(), utf8("handle me once"))
        XCTAssertEqual(store.commits, 2)
        let again = try bob.decrypt(address: aliceAddress, message: message)
        try again.commit()
        XCTAssertEqual(store.commits, 3)
        assertThrowsSotto(try again.commit()) { $0 == .AlreadyCommitted }
        assertThrowsSotto(try bob.decrypt(address: aliceAddress, message: message)) {
            if case .DuplicateMessage = $0 { true } else { false }
        }
        // The copy decrypted before that commit is stale: committing it would undo it.
        assertThrowsSotto(try uncommitted.commit()) { $0 == .StaleDecryption }

        // So is a decryption with an encryption to the same address in
        // between: its commit would make the next encryption reuse a key.
        let pending = try bob.decrypt(address: aliceAddress, message: alice.encrypt(address: bobAddress, plaintext: utf8("pending")))
        let first = try bob.encrypt(address: aliceAddress, plaintext: utf8("x1"))
        assertThrowsSotto(try pending.commit()) { $0 == .StaleDecryption }
        let second = try bob.encrypt(address: aliceAddress, plaintext: utf8("x2"))
        XCTAssertEqual(try alice.decryptAndCommit(address: bobAddress, message: first), utf8("x1"))
        XCTAssertEqual(try alice.decryptAndCommit(address: bobAddress, message: second), utf8("x2"))

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
            XCTAssertEqual(try store.kemPrekeyCount(), 0)
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
        let stored = try XCTUnwrap(store.sessions[aliceAddress])
        store.sessions[aliceAddress] = Stored(generation: stored.generation, record: Data([0xff, 0, 1, 2]))
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

        // The user accepts the new key: the sessions with the old one are
        // dropped, and the old device's messages are refused from now on.
        let oldMessage = try bob.encrypt(address: aliceAddress, plaintext: utf8("from the old install"))
        try alice.trustIdentity(address: bobAddress, identityKey: identityKey, verified: false)
        XCTAssertFalse(try alice.hasSession(address: bobAddress))
        assertThrowsSotto(try alice.decrypt(address: bobAddress, message: oldMessage)) { $0 == .NoSession }
        try alice.processBundle(address: bobAddress, bundle: newBundle)
        let welcome = try alice.encrypt(address: bobAddress, plaintext: utf8("welcome back"))
        XCTAssertEqual(try newBob.decryptAndCommit(address: aliceAddress, message: welcome), utf8("welcome back"))
    }

    func testATrustDecisionMakesPendingDecryptionsStale() throws {
        let alice = try inMemory(aliceAddress)
        let bob = try inMemory(bobAddress)
        try connect(alice, bob)
        let pending = try alice.decrypt(
            address: bobAddress, message: bob.encrypt(address: aliceAddress, plaintext: utf8("decided before the trust")))
        try alice.trustIdentity(address: bobAddress, identityKey: bob.identityKey(), verified: true)
        assertThrowsSotto(try pending.commit()) { $0 == .StaleDecryption }
        XCTAssertEqual(try send(bob, alice, utf8("after")), utf8("after"))
    }

    func testAStoreThatLostAnIdentityRefusesTheAddressUntilTrusted() throws {
        let store = MapStore(identity: IdentityKeyPair.generate())
        let bob = try SessionManager.withStore(address: bobAddress, store: store)
        let alice = try inMemory(aliceAddress)
        try connect(alice, bob)

        store.peers[aliceAddress] = nil
        assertThrowsSotto(try bob.encrypt(address: aliceAddress, plaintext: utf8("x"))) {
            $0 == .PeerIdentityMissing(address: aliceAddress)
        }
        let message = try alice.encrypt(address: bobAddress, plaintext: utf8("y"))
        assertThrowsSotto(try bob.decrypt(address: aliceAddress, message: message)) {
            if case .PeerIdentityMissing = $0 { true } else { false }
        }

        // The user confirms Alice's key (say, by comparing safety numbers).
        try bob.trustIdentity(address: aliceAddress, identityKey: alice.identityKey(), verified: true)
        XCTAssertEqual(try send(bob, alice, utf8("back")), utf8("back"))
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
