import CZMQ

/// A failed libzmq call: which operation, errno, and libzmq's own message.
public struct ZMQError: Error, CustomStringConvertible, Equatable, Sendable {
    public let operation: String
    public let code: Int32

    /// The error of the last libzmq call on this thread.
    static func last(_ operation: String) -> ZMQError { ZMQError(operation: operation, code: zmq_errno()) }

    public var description: String { "\(operation): \(String(cString: zmq_strerror(code)))" }

    /// A receive or send that would block (timeout, or no message with DONTWAIT).
    public var isWouldBlock: Bool { code == EAGAIN }
}
