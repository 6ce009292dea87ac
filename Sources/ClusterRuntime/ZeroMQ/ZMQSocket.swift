#if canImport(Glibc)
import Glibc
#endif
import CZMQ

/// A ZeroMQ socket, owned by one thread (libzmq sockets are not thread-safe; talk to a
/// socket's thread over inproc). Options that matter for a long-running cluster are set on
/// creation: a finite linger (context termination never hangs) and a maximum message size
/// (an oversized frame disconnects the peer before anything is allocated).
public final class ZMQSocket {
    public enum Kind: Int32 {
        case pair = 0, rep = 4, dealer = 5, router = 6
        var raw: Int32 { rawValue }
    }

    let handle: UnsafeMutableRawPointer
    /// Kept so that the context outlives its sockets.
    public let context: ZMQContext
    private var isClosed = false

    /// A socket with `linger` milliseconds of linger and frames capped at `maxMessageSize` bytes.
    public init(_ context: ZMQContext, _ kind: Kind, linger: Int32 = 0, maxMessageSize: Int64 = 1 << 30) throws {
        guard let handle = zmq_socket(context.handle, kind.raw) else { throw ZMQError.last("zmq_socket") }
        self.handle = handle
        self.context = context
        try set(ZMQ_LINGER, linger)
        try set(ZMQ_MAXMSGSIZE, maxMessageSize)
    }

    deinit { close() }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        zmq_close(handle)
    }

    // MARK: Options

    public func set(_ option: Int32, _ value: Int32) throws {
        var v = value
        guard zmq_setsockopt(handle, option, &v, MemoryLayout<Int32>.size) == 0 else { throw ZMQError.last("zmq_setsockopt(\(option))") }
    }

    public func set(_ option: Int32, _ value: Int64) throws {
        var v = value
        guard zmq_setsockopt(handle, option, &v, MemoryLayout<Int64>.size) == 0 else { throw ZMQError.last("zmq_setsockopt(\(option))") }
    }

    public func set(_ option: Int32, bytes: [UInt8]) throws {
        guard zmq_setsockopt(handle, option, bytes, bytes.count) == 0 else { throw ZMQError.last("zmq_setsockopt(\(option))") }
    }

    /// Milliseconds a receive waits before failing with EAGAIN (-1: forever).
    public func setReceiveTimeout(_ milliseconds: Int32) throws { try set(ZMQ_RCVTIMEO, milliseconds) }

    /// ZMTP heartbeats: a ping every `interval` ms; the peer is dropped after `timeout` ms of silence.
    public func setHeartbeat(interval: Int32, timeout: Int32) throws {
        try set(ZMQ_HEARTBEAT_IVL, interval)
        try set(ZMQ_HEARTBEAT_TIMEOUT, timeout)
        try set(ZMQ_HEARTBEAT_TTL, timeout)
    }

    /// Makes this socket a CURVE server with `pair` (clients are checked by the context's ZAP handler).
    public func setCurveServer(_ pair: CurveKeyPair) throws {
        try set(ZMQ_CURVE_SERVER, Int32(1))
        try set(ZMQ_CURVE_SECRETKEY, bytes: Array(pair.secretKey.utf8))
        try set(ZMQ_ZAP_DOMAIN, bytes: Array("crucible".utf8))
    }

    /// Makes this socket a CURVE client with `pair` that only talks to the server with key `server`.
    public func setCurveClient(_ pair: CurveKeyPair, server: String) throws {
        try set(ZMQ_CURVE_SERVERKEY, bytes: Array(server.utf8))
        try set(ZMQ_CURVE_PUBLICKEY, bytes: Array(pair.publicKey.utf8))
        try set(ZMQ_CURVE_SECRETKEY, bytes: Array(pair.secretKey.utf8))
    }

    // MARK: Endpoints

    public func bind(_ endpoint: String) throws {
        guard zmq_bind(handle, endpoint) == 0 else { throw ZMQError.last("zmq_bind(\(endpoint))") }
    }

    public func connect(_ endpoint: String) throws {
        guard zmq_connect(handle, endpoint) == 0 else { throw ZMQError.last("zmq_connect(\(endpoint))") }
    }

    /// The endpoint actually bound (resolves `tcp://127.0.0.1:*` to its port).
    public func lastEndpoint() throws -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        var size = buffer.count
        guard zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { throw ZMQError.last("zmq_getsockopt(LAST_ENDPOINT)") }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A PAIR socket that receives this socket's handshake failures (libzmq's socket
    /// monitor): peers that speak another security mechanism or break the ZMTP handshake.
    public func handshakeMonitor() throws -> ZMQSocket {
        let endpoint = "inproc://crucible-monitor-\(UInt(bitPattern: handle))"
        let events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
        guard zmq_socket_monitor(handle, endpoint, Int32(events)) == 0 else { throw ZMQError.last("zmq_socket_monitor") }
        let monitor = try ZMQSocket(context, .pair)
        try monitor.connect(endpoint)
        return monitor
    }

    /// A monitor event: the endpoint it happened on (libzmq 4.3 names the bound endpoint,
    /// not the peer), and libzmq's ZMTP error code when it gave one.
    public struct HandshakeFailure: Sendable {
        public let endpoint: String
        public let protocolError: UInt32?

        /// What went wrong, in words.
        public var reason: String {
            switch protocolError {
            case UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH):
                return "the peer speaks another security mechanism (a worker without --keys against a CURVE coordinator, or the reverse)"
            case let code?: return "the peer broke the ZMTP handshake (libzmq protocol error 0x\(String(code, radix: 16)))"
            case nil: return "the peer went away during it (a worker without --keys against a CURVE coordinator, or not a Crucible worker)"
            }
        }
    }

    /// Reads one event from a `handshakeMonitor()` socket (two frames: event id and value,
    /// then the address).
    public func receiveHandshakeFailure() throws -> HandshakeFailure? {
        let frames = try receiveMultipart()
        guard frames.count == 2, frames[0].count == 6 else { return nil }
        let event = UInt16(frames[0][0]) | UInt16(frames[0][1]) << 8
        let value = frames[0][2...5].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let endpoint = String(decoding: frames[1], as: UTF8.self)
        return HandshakeFailure(endpoint: endpoint, protocolError: Int32(event) == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? value : nil)
    }

    // MARK: Messages

    /// Sends one frame, consuming it; `more` marks further frames of the same message.
    public func send(_ message: consuming ZMQMessage, more: Bool = false) throws {
        var message = message
        guard zmq_msg_send(&message.raw, handle, more ? ZMQ_SNDMORE : 0) >= 0 else { throw ZMQError.last("zmq_msg_send") }
        // A sent message is empty; its deinit closes it harmlessly.
    }

    /// Sends a multipart message, copying each frame.
    public func send(_ frames: [[UInt8]]) throws {
        for (i, frame) in frames.enumerated() {
            try send(try ZMQMessage(frame), more: i < frames.count - 1)
        }
    }

    /// Sends `frames` and then `payload` as the last frame, copied once from the caller's
    /// memory (no intermediate array on the path of tensor bytes).
    public func send(_ frames: [[UInt8]], payload: UnsafeRawBufferPointer) throws {
        for frame in frames { try send(try ZMQMessage(frame), more: true) }
        try send(try ZMQMessage(payload))
    }

    /// Receives one frame (waits up to the receive timeout).
    public func receive() throws -> ZMQMessage {
        var message = ZMQMessage()
        guard zmq_msg_recv(&message.raw, handle, 0) >= 0 else { throw ZMQError.last("zmq_msg_recv") }
        return message
    }

    /// Receives every frame of the next multipart message, copied out.
    public func receiveMultipart() throws -> [[UInt8]] {
        var frames: [[UInt8]] = []
        while true {
            var frame = try receive()
            frames.append(frame.bytes())
            if !frame.hasMore { return frames }
        }
    }

    /// Waits up to `milliseconds` (-1: forever) until a message can be received.
    public func poll(milliseconds: Int) throws -> Bool {
        try ZMQSocket.poll([self], milliseconds: milliseconds)[0]
    }

    /// Waits up to `milliseconds` until any of `sockets` can receive; which ones can.
    public static func poll(_ sockets: [ZMQSocket], milliseconds: Int) throws -> [Bool] {
        var items = sockets.map { zmq_pollitem_t(socket: $0.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0) }
        let n = zmq_poll(&items, Int32(items.count), milliseconds)
        // A signal (SIGINT, SIGTERM) interrupts the wait; the caller checks why and goes on.
        if n < 0 && zmq_errno() == EINTR { return sockets.map { _ in false } }
        guard n >= 0 else { throw ZMQError.last("zmq_poll") }
        return items.map { n > 0 && $0.revents & Int16(ZMQ_POLLIN) != 0 }
    }
}
