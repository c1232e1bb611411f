// The SDK's persistent store through the binding: its write counter as a
// rollback anchor, rekeying, legacy rows, and last-resort KEM prekey uses. Mirrors
// bindings/kotlin/src/test/kotlin/sotto/SqliteStoreTest.kt.

import Foundation
import XCTest

@testable import Sotto

final class SqliteStoreTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private var path: String { directory.appendingPathComponent("bob.sqlite").path }

    func testARekeyedStoreOpensWithTheNewKeyOnly() throws {
        let oldKey = generateStorageKey()
        let newKey = generateStorageKey()
        let alice = try inMemory(aliceAddress)
        let identity = IdentityKeyPair.generate()
        do {
            let store = try SqliteStore.create(path: path, storageKey: oldKey, identity: identity)
            let bob = try SessionManager.withSqliteStore(address: bobAddress, store: store)
            try connect(alice, bob)
            assertThrowsSotto(try store.rekey(newKey: utf8("too short"))) {
                if case .InvalidArgument = $0 { true } else { false }
            }
            try store.rekey(newKey: newKey)
            // The handle that rekeyed goes on under the new key.
            XCTAssertEqual(try send(alice, bob, utf8("during")), utf8("during"))
        }

        assertThrowsSotto(try SqliteStore.open(path: path, storageKey: oldKey)) { $0 == .WrongStorageKey }
        let bob = try SessionManager.withSqliteStore(
            address: bobAddress, store: SqliteStore.open(path: path, storageKey: newKey))
        XCTAssertEqual(try bob.identityKey(), identity.publicKey())
        XCTAssertEqual(try send(alice, bob, utf8("after")), utf8("after"))
        XCTAssertEqual(try send(bob, alice, utf8("reply")), utf8("reply"))
    }

    func testTheWriteCounterAnchorsTheFileAgainstARollback() throws {
        let key = generateStorageKey()
        var anchor: UInt64 = 0
        do {
            let store = try SqliteStore.create(path: path, storageKey: key, identity: IdentityKeyPair.generate())
            let before = try store.writeCounter()
            try connect(inMemory(aliceAddress), SessionManager.withSqliteStore(address: bobAddress, store: store))
            anchor = try store.writeCounter()
            XCTAssertGreaterThan(anchor, before)
        }

        XCTAssertEqual(try SqliteStore.openAnchored(path: path, storageKey: key, anchor: anchor).writeCounter(), anchor)
        // An anchor newer than the file: the file is an older copy of itself.
        assertThrowsSotto(try SqliteStore.openAnchored(path: path, storageKey: key, anchor: anchor + 1)) {
            if case .StoreTampered = $0 { true } else { false }
        }
        assertThrowsSotto(try SqliteStore.openAnchored(path: path, storageKey: generateStorageKey(), anchor: anchor)) {
            $0 == .WrongStorageKey
        }
    }

    func testANewStoreHasNoLegacyRows() throws {
        let store = try SqliteStore.create(path: path, storageKey: generateStorageKey(), identity: IdentityKeyPair.generate())
        try connect(inMemory(aliceAddress), SessionManager.withSqliteStore(address: bobAddress, store: store))
        XCTAssertEqual(try store.upgradeLegacyRows(addresses: [aliceAddress, bobAddress]), 0)
        assertThrowsSotto(try store.upgradeLegacyRows(addresses: [Address(account: "", device: 1)])) {
            if case .InvalidArgument = $0 { true } else { false }
        }
    }

    func testLastResortUsesPersistUntilTheKemPrekeyIsRotated() throws {
        let key = generateStorageKey()
        let alice = try inMemory(aliceAddress)
        var first = Data()
        do {
            let store = try SqliteStore.create(path: path, storageKey: key, identity: IdentityKeyPair.generate())
            let bob = try SessionManager.withSqliteStore(address: bobAddress, store: store)
            let bundle = try PreKeyBundle(
                identityKey: bob.identityKey(), signedPrekey: bob.generateSignedPrekey(id: 1),
                kemPrekey: bob.generateLastResortKemPrekey(id: 5), oneTimePrekey: nil
            ).toBytes()
            try alice.processBundle(address: bobAddress, bundle: bundle)
            first = try alice.encrypt(address: bobAddress, plaintext: utf8("first"))
            XCTAssertEqual(try bob.decryptAndCommit(address: aliceAddress, message: first), utf8("first"))
            XCTAssertEqual(try store.kemPrekeyCount(), 1, "a last-resort KEM prekey stays")
        }

        // Reopened, the store still knows the first message's use of it.
        let store = try SqliteStore.open(path: path, storageKey: key)
        let bob = try SessionManager.withSqliteStore(address: bobAddress, store: store)
        assertThrowsSotto(try bob.decrypt(address: malloryAddress, message: first)) {
            if case .DuplicateMessage = $0 { true } else { false }
        }

        // Rotation: a new last-resort KEM prekey, the old one removed with its uses.
        _ = try bob.generateLastResortKemPrekey(id: 6)
        XCTAssertEqual(try store.kemPrekeyCount(), 2)
        try store.removeKemPrekey(id: 5)
        XCTAssertEqual(try store.kemPrekeyCount(), 1)
        assertThrowsSotto(try bob.decrypt(address: malloryAddress, message: first)) {
            if case .UnknownPreKey = $0 { true } else { false }
        }
        XCTAssertEqual(try send(alice, bob, utf8("still here")), utf8("still here"))
    }
}
