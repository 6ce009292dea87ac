import CZMQ

/// One ZeroMQ frame. `zmq_msg_t` owns its buffer, so this type cannot be copied: a copy
/// would close the same buffer twice. Sending consumes the message.
public struct ZMQMessage: ~Copyable {
    var raw = zmq_msg_t()

    /// An empty message, ready to receive into.
    public init() {
        zmq_msg_init(&raw)
    }

    /// A message holding a copy of `bytes`.
    public init(_ bytes: UnsafeRawBufferPointer) throws {
        guard zmq_msg_init_size(&raw, bytes.count) == 0 else { throw ZMQError.last("zmq_msg_init_size") }
        if let source = bytes.baseAddress, bytes.count > 0 {
            zmq_msg_data(&raw).copyMemory(from: source, byteCount: bytes.count)
        }
    }

    public init(_ bytes: [UInt8]) throws {
        guard zmq_msg_init_size(&raw, bytes.count) == 0 else { throw ZMQError.last("zmq_msg_init_size") }
        bytes.withUnsafeBytes { source in
            if let start = source.baseAddress, source.count > 0 { zmq_msg_data(&raw).copyMemory(from: start, byteCount: source.count) }
        }
    }

    deinit {
        // `self` is immutable here; the struct is being destroyed, so closing a bitwise move
        // of it is closing it.
        var closing = raw
        zmq_msg_close(&closing)
    }

    public var count: Int {
        mutating get { zmq_msg_size(&raw) }
    }

    /// True when another frame of the same multipart message follows.
    public var hasMore: Bool {
        mutating get { zmq_msg_more(&raw) != 0 }
    }

    /// Reads the frame's bytes in place.
    public mutating func withBytes<T>(_ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        try body(UnsafeRawBufferPointer(start: zmq_msg_data(&raw), count: zmq_msg_size(&raw)))
    }

    /// A copy of the frame's bytes.
    public mutating func bytes() -> [UInt8] { withBytes { Array($0) } }
}
