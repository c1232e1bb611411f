// Post-quantum sessions (PQXDH, ML-KEM-1024) through the binding: every new
// session post-quantum on both sides, a classical bundle refused unless the
// app opts in, one-time and last-resort KEM prekeys each starting a session
// once (in a store written in Swift), and a KEM prekey not signed by its
// bundle's identity refused. Mirrors
// bindings/kotlin/src/test/kotlin/sotto/PqxdhTest.kt test for test.
//
// Not compiled on the machines this project is developed on (no Swift
// toolchain there); see bindings/README.md.

import Foundation
import XCTest

@testable import Sotto

final class PqxdhTests: XCTestCase {
    private func swiftBob() throws -> (MapStore, SessionManager) {
        let store = MapStore(identity: IdentityKeyPair.generate())
        return (store, try SessionManager.withStore(address: bobAddress, store: store))
    }

    /// `bob`'s bundle with `kem` as its KEM prekey, a new signed prekey of the
    /// same id, and no one-time prekey: only the KEM prekey is single-use.
    private func bundleWith(_ bob: SessionManager, _ kem: KemPreKeyPublic) throws -> Data {
        let signed = try bob.generateSignedPrekey(id: kem.id)
        return try PreKeyBundle(
            identityKey: bob.identityKey(), signedPrekey: signed, kemPrekey: kem, oneTimePrekey: nil
        ).toBytes()
    }

    /// `bundle` with one bit of `field`, found in it, flipped.
    private func flipped(_ bundle: Data, _ field: Data) throws -> Data {
        let bytes = [UInt8](bundle), needle = [UInt8](field)
        let starts = (0...(bytes.count - needle.count)).filter { Array(bytes[$0..<($0 + needle.count)]) == needle }
        XCTAssertEqual(starts.count, 1, "the field occurs once in the bundle")
        var tampered = bytes
        tampered[try XCTUnwrap(starts.first)] ^= 1
        return Data(tampered)
    }

    func testASessionIsPostQuantumOnBothSides() throws {
        let (_, bob) = try swiftBob()
        let alice = try inMemory(aliceAddress)
        XCTAssertNil(try alice.sessionHandshake(address: bobAddress))
        let bundle = try bundleOf(bob)
        XCTAssertTrue(try PreKeyBundle.fromBytes(bytes: bundle).hasKemPrekey())
        try alice.processBundle(address: bobAddress, bundle: bundle)
        XCTAssertEqual(try alice.sessionHandshake(address: bobAddress), .pqxdh)
        let received = try bob.decrypt(
            address: aliceAddress, message: alice.encrypt(address: bobAddress, plaintext: utf8("hello")))
        XCTAssertTrue(received.startedSession())
        try received.commit()
        XCTAssertEqual(try bob.sessionHandshake(address: aliceAddress), .pqxdh)
        XCTAssertTrue(try XCTUnwrap(alice.sessionHandshake(address: bobAddress)).isPostQuantum())
        XCTAssertTrue(try XCTUnwrap(bob.sessionHandshake(address: aliceAddress)).isPostQuantum())
        XCTAssertFalse(Handshake.x3dh.isPostQuantum())
        XCTAssertEqual(try send(bob, alice, utf8("reply")), utf8("reply"))
        XCTAssertEqual(alice.classicalSessions(), .refuse)
    }

    func testAClassicalBundleIsRefusedUnlessClassicalSessionsAreAllowed() throws {
        var alice = try inMemory(aliceAddress)
        var bob = try inMemory(bobAddress)
        let signed = try bob.generateSignedPrekey(id: 1)
        let oneTime = try bob.generateOneTimePrekeys(firstId: 100, count: 1).first
        let classical = try PreKeyBundle.classical(
            identityKey: bob.identityKey(), signedPrekey: signed, oneTimePrekey: oneTime
        ).toBytes()
        XCTAssertFalse(try PreKeyBundle.fromBytes(bytes: classical).hasKemPrekey())
        assertThrowsSotto(try alice.processBundle(address: bobAddress, bundle: classical)) {
            $0 == .ClassicalSessionRefused(address: bobAddress)
        }
        XCTAssertFalse(try alice.hasSession(address: bobAddress))

        // Allowed on Alice's side only: Bob refuses her first message.
        alice = alice.withClassicalSessions(policy: .allow)
        XCTAssertEqual(alice.classicalSessions(), .allow)
        try alice.processBundle(address: bobAddress, bundle: classical)
        XCTAssertEqual(try alice.sessionHandshake(address: bobAddress), .x3dh)
        let first = try alice.encrypt(address: bobAddress, plaintext: utf8("classical"))
        assertThrowsSotto(try bob.decrypt(address: aliceAddress, message: first)) {
            $0 == .ClassicalSessionRefused(address: aliceAddress)
        }
        XCTAssertFalse(try bob.hasSession(address: aliceAddress))

        // Allowed on both sides: a classical session, which says so.
        bob = bob.withClassicalSessions(policy: .allow)
        XCTAssertEqual(try bob.decryptAndCommit(address: aliceAddress, message: first), utf8("classical"))
        XCTAssertEqual(try bob.sessionHandshake(address: aliceAddress), .x3dh)
        XCTAssertFalse(try XCTUnwrap(bob.sessionHandshake(address: aliceAddress)).isPostQuantum())
        XCTAssertEqual(try send(bob, alice, utf8("reply")), utf8("reply"))
    }

    func testAOneTimeKemPrekeyStartsOneSessionOnly() throws {
        let (store, bob) = try swiftBob()
        let kem = try XCTUnwrap(bob.generateKemPrekeys(firstId: 40, count: 1).first)
        XCTAssertEqual(kem.id, 40)
        XCTAssertEqual(kem.key.count, 1569)
        XCTAssertEqual(kem.signature.count, 64)
        XCTAssertEqual(Set(store.kem.keys), [40])
        let bundle = try bundleWith(bob, kem)
        let alice = try inMemory(aliceAddress)
        let carol = try inMemory(carolAddress)
        try alice.processBundle(address: bobAddress, bundle: bundle)
        try carol.processBundle(address: bobAddress, bundle: bundle)
        let first = try alice.encrypt(address: bobAddress, plaintext: utf8("first"))

        let received = try bob.decrypt(address: aliceAddress, message: first)
        XCTAssertNotNil(store.kem[40], "nothing is removed before the commit")
        try received.commit()
        XCTAssertNil(store.kem[40], "the commit consumed the KEM prekey")
        XCTAssertEqual(store.committed.last?.first?.consumedKemPrekeys, [40])
        XCTAssertEqual(store.committed.last?.first?.lastResortUses, [])
        XCTAssertEqual(try bob.sessionHandshake(address: aliceAddress), .pqxdh)

        // The first message again: a duplicate in the session it started,
        // and, replayed as if from another address, an unknown KEM prekey.
        assertThrowsSotto(try bob.decrypt(address: aliceAddress, message: first)) {
            if case .DuplicateMessage = $0 { true } else { false }
        }
        assertThrowsSotto(try bob.decrypt(address: malloryAddress, message: first)) {
            if case .UnknownPreKey(let reason) = $0 { reason.contains("KEM prekey with id 40") } else { false }
        }
        // Carol used the same bundle: her first message is refused too.
        let tooLate = try carol.encrypt(address: bobAddress, plaintext: utf8("too late"))
        assertThrowsSotto(try bob.decrypt(address: carolAddress, message: tooLate)) {
            if case .UnknownPreKey = $0 { true } else { false }
        }
        XCTAssertFalse(try bob.hasSession(address: carolAddress))
        XCTAssertFalse(try bob.hasSession(address: malloryAddress))
    }

    func testALastResortKemPrekeyServesManySessionsEachOnce() throws {
        let (store, bob) = try swiftBob()
        let bundle = try bundleWith(bob, bob.generateLastResortKemPrekey(id: 5))
        var firsts: [(Address, Data)] = []
        for address in [aliceAddress, carolAddress] {
            let peer = try inMemory(address)
            try peer.processBundle(address: bobAddress, bundle: bundle)
            let first = try peer.encrypt(address: bobAddress, plaintext: utf8(address.account))
            XCTAssertEqual(try bob.decryptAndCommit(address: address, message: first), utf8(address.account))
            XCTAssertEqual(try bob.sessionHandshake(address: address), .pqxdh)
            firsts.append((address, first))
        }
        XCTAssertNotNil(store.kem[5], "a last-resort KEM prekey stays")
        let uses = store.committed.flatMap { $0.first?.lastResortUses ?? [] }
        XCTAssertEqual(uses.map(\.kemPrekey), [5, 5])
        XCTAssertEqual(uses.first?.baseKey.count, 32)
        XCTAssertNotEqual(uses.first?.baseKey, uses.last?.baseKey)
        XCTAssertEqual(store.lastResortUses.count, 2)

        // Each first message again, even as if from another address, is a
        // duplicate: its use of the last-resort prekey was recorded.
        for (address, first) in firsts {
            for from in [address, malloryAddress] {
                assertThrowsSotto(try bob.decrypt(address: from, message: first)) {
                    if case .DuplicateMessage = $0 { true } else { false }
                }
            }
        }
        XCTAssertFalse(try bob.hasSession(address: malloryAddress))
    }

    func testABatchCommitsKemPrekeyConsumptionWithItsSessions() throws {
        let (store, bob) = try swiftBob()
        let oneTime = try bundleWith(bob, XCTUnwrap(bob.generateKemPrekeys(firstId: 60, count: 1).first))
        let lastResort = try bundleWith(bob, bob.generateLastResortKemPrekey(id: 61))
        let alice = try inMemory(aliceAddress)
        let carol = try inMemory(carolAddress)
        try alice.processBundle(address: bobAddress, bundle: oneTime)
        try carol.processBundle(address: bobAddress, bundle: lastResort)
        let fromAlice = try alice.encrypt(address: bobAddress, plaintext: utf8("alice"))
        let fromCarol = try carol.encrypt(address: bobAddress, plaintext: utf8("carol"))

        let batch = bob.batch()
        XCTAssertEqual(try batch.decrypt(address: aliceAddress, message: fromAlice), utf8("alice"))
        XCTAssertEqual(try batch.decrypt(address: carolAddress, message: fromCarol), utf8("carol"))
        let commits = store.commits
        try batch.commit()
        XCTAssertEqual(store.commits, commits + 1, "one store commit for the batch")
        let writes = try XCTUnwrap(store.committed.last)
        let toAlice = try XCTUnwrap(writes.first { $0.address == aliceAddress })
        let toCarol = try XCTUnwrap(writes.first { $0.address == carolAddress })
        XCTAssertEqual(toAlice.consumedKemPrekeys, [60])
        XCTAssertEqual(toAlice.lastResortUses, [])
        XCTAssertEqual(toCarol.consumedKemPrekeys, [])
        XCTAssertEqual(toCarol.lastResortUses.map(\.kemPrekey), [61])
        XCTAssertNil(store.kem[60])
        XCTAssertNotNil(store.kem[61])

        let again = bob.batch()
        assertThrowsSotto(try again.decrypt(address: malloryAddress, message: fromAlice)) {
            if case .UnknownPreKey = $0 { true } else { false }
        }
        assertThrowsSotto(try again.decrypt(address: malloryAddress, message: fromCarol)) {
            if case .DuplicateMessage = $0 { true } else { false }
        }
        XCTAssertTrue(again.isEmpty())
    }

    func testAKemPrekeyNotSignedByTheBundlesIdentityIsRefused() throws {
        let alice = try inMemory(aliceAddress)
        let bob = try inMemory(bobAddress)
        let signed = try bob.generateSignedPrekey(id: 1)
        let kem = try XCTUnwrap(bob.generateKemPrekeys(firstId: 9, count: 1).first)
        let good = try PreKeyBundle(
            identityKey: bob.identityKey(), signedPrekey: signed, kemPrekey: kem, oneTimePrekey: nil
        ).toBytes()

        // A byte of the KEM prekey's signature flipped in the bundle's bytes
        // (its offset found in them): the bundle parses, and is refused.
        let tampered = try PreKeyBundle.fromBytes(bytes: flipped(good, kem.signature))
        XCTAssertTrue(tampered.hasKemPrekey())
        XCTAssertEqual(tampered.identityKey(), try bob.identityKey())
        assertThrowsSotto(try alice.processBundle(address: bobAddress, bundle: tampered.toBytes())) {
            $0 == .BadKemSignature
        }
        XCTAssertFalse(try alice.hasSession(address: bobAddress))

        // So is another identity's KEM prekey in Bob's bundle.
        let foreign = try inMemory(malloryAddress).generateLastResortKemPrekey(id: 9)
        let forged = try PreKeyBundle(
            identityKey: bob.identityKey(), signedPrekey: signed, kemPrekey: foreign, oneTimePrekey: nil
        ).toBytes()
        assertThrowsSotto(try alice.processBundle(address: bobAddress, bundle: forged)) { $0 == .BadKemSignature }
        // The signed prekey's signature flipped is the other refusal.
        assertThrowsSotto(try alice.processBundle(address: bobAddress, bundle: flipped(good, signed.signature))) {
            if case .InvalidBundle = $0 { true } else { false }
        }
        // A key that is no ML-KEM-1024 key is refused as an argument.
        var notAKey = kem
        notAKey.key[notAKey.key.startIndex] = 2
        assertThrowsSotto(
            try PreKeyBundle(identityKey: bob.identityKey(), signedPrekey: signed, kemPrekey: notAKey, oneTimePrekey: nil)
        ) {
            if case .InvalidArgument = $0 { true } else { false }
        }

        try alice.processBundle(address: bobAddress, bundle: good)
        XCTAssertEqual(try alice.sessionHandshake(address: bobAddress), .pqxdh)
    }
}
