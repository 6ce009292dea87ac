import CZMQ
import Foundation

/// The ZeroMQ Authentication Protocol handler (ZMQ RFC 27) of a coordinator: answers the
/// CURVE handshakes of its context, accepting only client keys on the allow-list. A refused
/// worker never gets a message through; the refusal is logged with its address.
final class ZAPHandler: @unchecked Sendable {
    static let endpoint = "inproc://zeromq.zap.01"

    private let socket: ZMQSocket
    private let allowed: [String: String]
    private let log: @Sendable (String) -> Void
    private let stopped = NSLock()
    private var stopRequested = false
    private let done = DispatchSemaphore(value: 0)

    /// Binds the handler in `context` (before any CURVE socket accepts connections) and
    /// serves it on a thread of its own. `allowed` maps Z85 public keys to names.
    init(context: ZMQContext, allowed: [String: String], log: @escaping @Sendable (String) -> Void) throws {
        socket = try ZMQSocket(context, .rep)
        try socket.bind(ZAPHandler.endpoint)
        self.allowed = allowed
        self.log = log
        Thread { [self] in serve() }.start()
    }

    /// Stops the thread and closes the socket.
    func stop() {
        stopped.lock()
        stopRequested = true
        stopped.unlock()
        done.wait()
    }

    private var shouldStop: Bool {
        stopped.lock()
        defer { stopped.unlock() }
        return stopRequested
    }

    private func serve() {
        defer {
            socket.close()
            done.signal()
        }
        while !shouldStop {
            guard (try? socket.poll(milliseconds: 50)) == true, let request = try? socket.receiveMultipart() else { continue }
            // version, request id, domain, address, identity, mechanism, credentials...
            guard request.count >= 6 else { continue }
            var status = "400", text = "refused", user = ""
            if String(decoding: request[5], as: UTF8.self) == "CURVE", request.count >= 7, request[6].count == 32 {
                let key = ZAPHandler.z85(request[6])
                if let name = allowed[key] {
                    (status, text, user) = ("200", "OK", name)
                } else {
                    log("coordinator: refused a worker at \(String(decoding: request[3], as: UTF8.self)) with unknown key \(key)")
                }
            }
            try? socket.send([request[0], request[1], Array(status.utf8), Array(text.utf8), Array(user.utf8), []])
        }
    }

    /// Z85 text of a 32-byte key.
    static func z85(_ key: [UInt8]) -> String {
        var text = [CChar](repeating: 0, count: 41)
        _ = key.withUnsafeBufferPointer { zmq_z85_encode(&text, $0.baseAddress, 32) }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
