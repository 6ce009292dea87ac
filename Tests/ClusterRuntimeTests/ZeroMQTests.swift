import ClusterRuntime
import CZMQ
import Foundation
import Testing

/// The ZeroMQ layer over real libzmq sockets: ROUTER/DEALER on inproc and TCP loopback,
/// multipart messages, timeouts and the frame-size cap.
@Suite struct ZeroMQTests {
    @Test func linkedLibzmqIs43() {
        #expect(ZMQContext.version.major == 4 && ZMQContext.version.minor == 3)
    }

    func roundTrip(endpoint: String) throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, .router)
        try router.bind(endpoint)
        let bound = endpoint.hasPrefix("tcp") ? try router.lastEndpoint() : endpoint
        let dealer = try ZMQSocket(context, .dealer)
        try dealer.set(ZMQ_ROUTING_ID, bytes: Array("worker-1".utf8))
        try dealer.connect(bound)
        try router.setReceiveTimeout(5000)
        try dealer.setReceiveTimeout(5000)

        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0) }
        try dealer.send([Array("HELLO".utf8), payload])
        let request = try router.receiveMultipart()
        #expect(request.count == 3)
        #expect(request[0] == Array("worker-1".utf8))
        #expect(request[1] == Array("HELLO".utf8))
        #expect(request[2] == payload)

        try router.send([request[0], Array("TASK".utf8)])
        #expect(try dealer.receiveMultipart() == [Array("TASK".utf8)])
        dealer.close()
        router.close()
    }

    @Test func routerDealerOverInproc() throws { try roundTrip(endpoint: "inproc://crucible-test-\(UUID().uuidString)") }

    @Test func routerDealerOverTCPLoopback() throws { try roundTrip(endpoint: "tcp://127.0.0.1:*") }

    @Test("a receive with nothing to read times out with EAGAIN")
    func receiveTimesOut() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, .dealer)
        try socket.bind("inproc://crucible-timeout-\(UUID().uuidString)")
        try socket.setReceiveTimeout(50)
        #expect(try !socket.poll(milliseconds: 20))
        do {
            _ = try socket.receive()
            Issue.record("receive should have timed out")
        } catch let error as ZMQError {
            #expect(error.isWouldBlock)
        }
    }

    @Test("a frame above the receiver's maximum size never arrives")
    func oversizedFramesAreDropped() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, .router, maxMessageSize: 1024)
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context, .dealer)
        try dealer.connect(try router.lastEndpoint())
        try dealer.send([[UInt8](repeating: 1, count: 4096)])
        #expect(try !router.poll(milliseconds: 300))
        // A peer that behaves is still served (a new connection).
        let polite = try ZMQSocket(context, .dealer)
        try polite.connect(try router.lastEndpoint())
        try polite.send([Array("small".utf8)])
        #expect(try router.poll(milliseconds: 5000))
        #expect(try router.receiveMultipart().last == Array("small".utf8))
    }

    @Test("a message is consumed by sending it")
    func messagesAreMovedNotCopied() throws {
        let context = try ZMQContext()
        let a = try ZMQSocket(context, .pair), b = try ZMQSocket(context, .pair)
        let endpoint = "inproc://crucible-pair-\(UUID().uuidString)"
        try a.bind(endpoint)
        try b.connect(endpoint)
        var message = try ZMQMessage(Array("payload".utf8))
        let size = message.count
        #expect(size == 7)
        try a.send(message)  // `message` cannot be used after this line: the compiler enforces it.
        try b.setReceiveTimeout(2000)
        var received = try b.receive()
        let bytes = received.bytes()
        let more = received.hasMore
        #expect(bytes == Array("payload".utf8))
        #expect(!more)
    }
}
