// 1:1 calls through the binding: each call agrees on its own keys from an
// offer and an answer that travel inside the DM session. Mirrors
// bindings/kotlin/src/test/kotlin/sotto/CallTest.kt.

import Foundation
import XCTest

@testable import Sotto

let callSuite = CipherSuite.aes128GcmSha256128

final class CallTests: XCTestCase {
    private var alice: SessionManager!
    private var bob: SessionManager!

    override func setUpWithError() throws {
        alice = try inMemory(aliceAddress)
        bob = try inMemory(bobAddress)
        try connect(alice, bob)
    }

    /// Alice offers; the offer reaches Bob in the DM session; Bob's phone rings.
    private func ring(_ callId: String = "call-0001") throws -> (OutgoingCall, CallOffer) {
        let offered = try alice.offerCall(address: bobAddress, callId: utf8(callId), suite: callSuite)
        let offer = try send(alice, bob, offered.offer)
        let ringing = try bob.parseCallOffer(address: aliceAddress, offer: offer)
        return (offered.call, ringing)
    }

    /// Bob accepts; the answer reaches Alice. Returns Alice's and Bob's calls.
    private func pickUp(_ ringing: (OutgoingCall, CallOffer)) throws -> (OneToOneCall, OneToOneCall) {
        let accepted = try bob.acceptCall(address: aliceAddress, offer: ringing.1)
        let answer = try send(bob, alice, accepted.answer)
        let onAlice = try ringing.0.receiveAnswer(answer: answer)
        return (onAlice, accepted.call)
    }

    func testACallAgreesOnKeysAndCarriesFramesBothWays() throws {
        let ringing = try ring()
        XCTAssertEqual(ringing.0.callId(), utf8("call-0001"))
        XCTAssertEqual(ringing.1.callId(), utf8("call-0001"))
        XCTAssertEqual(ringing.1.suite(), callSuite)
        let (onAlice, onBob) = try pickUp(ringing)
        XCTAssertEqual(onAlice.suite(), callSuite)
        XCTAssertEqual(onAlice.sendKid(), onBob.receiveKid())
        XCTAssertEqual(onBob.sendKid(), onAlice.receiveKid())

        let metadata = utf8("rtp header")
        let frame = try onAlice.encrypt(metadata: metadata, frame: utf8("an opus frame"))
        XCTAssertEqual(try onBob.decrypt(metadata: metadata, frame: frame), utf8("an opus frame"))
        assertThrowsSotto(try onBob.decrypt(metadata: metadata, frame: frame)) {
            if case .FrameReplayed = $0 { true } else { false }
        }
        let another = try onAlice.encrypt(metadata: metadata, frame: utf8("x"))
        assertThrowsSotto(try onBob.decrypt(metadata: utf8("other"), frame: another)) { $0 == .AuthenticationFailed }
        let back = try onBob.encrypt(metadata: Data(), frame: utf8("answer"))
        XCTAssertEqual(try onAlice.decrypt(metadata: Data(), frame: back), utf8("answer"))

        // The answer completed the outgoing call: it is not answered twice.
        assertThrowsSotto(try ringing.0.receiveAnswer(answer: utf8("any"))) {
            if case .AlreadyUsed = $0 { true } else { false }
        }
    }

    func testKeysTakenOutForAnotherMediaStack() throws {
        let (onAlice, onBob) = try pickUp(ring())
        let mine = try onAlice.intoKeys()
        let theirs = try onBob.intoKeys()
        XCTAssertEqual(mine.sendKid, theirs.receiveKid)
        XCTAssertEqual(mine.receiveKid, theirs.sendKid)
        XCTAssertEqual(mine.sendBaseKey, theirs.receiveBaseKey)
        XCTAssertEqual(mine.receiveBaseKey, theirs.sendBaseKey)
        XCTAssertNotEqual(mine.sendBaseKey, mine.receiveBaseKey)
        assertThrowsSotto(try onAlice.intoKeys()) { if case .AlreadyUsed = $0 { true } else { false } }
        assertThrowsSotto(try onAlice.encrypt(metadata: Data(), frame: utf8("x"))) {
            if case .AlreadyUsed = $0 { true } else { false }
        }
    }

    func testARestartedCallAgreesOnNewKeys() throws {
        let (firstAlice, firstBob) = try pickUp(ring())
        let oldFrame = try firstAlice.encrypt(metadata: Data(), frame: utf8("frame"))
        XCTAssertEqual(try firstBob.decrypt(metadata: Data(), frame: oldFrame), utf8("frame"))

        // Alice's app restarts mid-call and offers the same call again.
        let (secondAlice, secondBob) = try pickUp(ring())
        let newFrame = try secondAlice.encrypt(metadata: Data(), frame: utf8("frame"))
        XCTAssertNotEqual(newFrame, oldFrame, "same call id, same counter, new keys")
        XCTAssertEqual(try secondBob.decrypt(metadata: Data(), frame: newFrame), utf8("frame"))
        let underOldKeys = try firstAlice.encrypt(metadata: Data(), frame: utf8("old keys"))
        assertThrowsSotto(try secondBob.decrypt(metadata: Data(), frame: underOldKeys)) { $0 == .AuthenticationFailed }
        let back = try secondBob.encrypt(metadata: Data(), frame: utf8("back"))
        XCTAssertEqual(try secondAlice.decrypt(metadata: Data(), frame: back), utf8("back"))
    }

    func testAReplayedOfferIsRefused() throws {
        let offered = try alice.offerCall(address: bobAddress, callId: utf8("call-0002"), suite: callSuite)
        let message = try alice.encrypt(address: bobAddress, plaintext: offered.offer)
        let offer = try bob.decryptAndCommit(address: aliceAddress, message: message)
        let ringing = try bob.parseCallOffer(address: aliceAddress, offer: offer)
        _ = try bob.acceptCall(address: aliceAddress, offer: ringing)

        // The same offer, or its bytes parsed again, is accepted once.
        assertThrowsSotto(try bob.acceptCall(address: aliceAddress, offer: ringing)) {
            if case .CallSignalRejected = $0 { true } else { false }
        }
        let parsedAgain = try bob.parseCallOffer(address: aliceAddress, offer: offer)
        assertThrowsSotto(try bob.acceptCall(address: aliceAddress, offer: parsedAgain)) {
            if case .CallSignalRejected = $0 { true } else { false }
        }
        // Replayed as a DM message, it does not even decrypt.
        assertThrowsSotto(try bob.decrypt(address: aliceAddress, message: message)) {
            if case .DuplicateMessage = $0 { true } else { false }
        }
    }

    func testAnAnswerToAnotherOfferIsRefusedAndTheCallKeepsWaiting() throws {
        let earlier = try ring()
        let earlierAnswer = try send(bob, alice, bob.acceptCall(address: aliceAddress, offer: earlier.1).answer)

        let (later, ringing) = try ring()
        assertThrowsSotto(try later.receiveAnswer(answer: earlierAnswer)) {
            if case .CallSignalRejected = $0 { true } else { false }
        }
        assertThrowsSotto(try later.receiveAnswer(answer: utf8("not an answer"))) {
            if case .MalformedMessage = $0 { true } else { false }
        }
        // Still waiting: its own answer completes it.
        let accepted = try bob.acceptCall(address: aliceAddress, offer: ringing)
        let onAlice = try later.receiveAnswer(answer: send(bob, alice, accepted.answer))
        let frame = try onAlice.encrypt(metadata: Data(), frame: utf8("frame"))
        XCTAssertEqual(try accepted.call.decrypt(metadata: Data(), frame: frame), utf8("frame"))
    }

    func testCallSignalsAreChecked() throws {
        let carol = try inMemory(carolAddress)
        assertThrowsSotto(try alice.offerCall(address: carolAddress, callId: utf8("call"), suite: callSuite)) {
            $0 == .NoSession
        }
        assertThrowsSotto(try alice.offerCall(address: bobAddress, callId: Data(), suite: callSuite)) {
            if case .InvalidArgument = $0 { true } else { false }
        }
        assertThrowsSotto(try bob.parseCallOffer(address: aliceAddress, offer: Data([0, 1, 2]))) {
            if case .MalformedMessage = $0 { true } else { false }
        }

        // An offer Alice made for Carol, shown to Bob as if it were his.
        try connect(alice, carol, signedId: 2, oneTimeId: 200)
        let forCarol = try alice.offerCall(address: carolAddress, callId: utf8("call"), suite: callSuite).offer
        assertThrowsSotto(try bob.parseCallOffer(address: aliceAddress, offer: forCarol)) {
            if case .CallSignalRejected = $0 { true } else { false }
        }
    }
}
