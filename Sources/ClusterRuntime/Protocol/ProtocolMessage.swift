import Foundation
import JobModel
import WireCodec

/// The message types of CWP/2 (docs/protocol.md §4).
public enum MessageKind: UInt8, Sendable {
    case hello = 1, welcome, task, input, result, done, error, heartbeat, shutdown, ready
}

/// A malformed or unacceptable message (docs/protocol.md §7).
public enum ProtocolError: Error, Equatable, CustomStringConvertible {
    case version(UInt8)
    case malformed(String)

    public var description: String {
        switch self {
        case .version(let v): return "protocol version \(v) is not supported (this side speaks \(ProtocolMessage.version))"
        case .malformed(let why): return "malformed message: \(why)"
        }
    }
}

/// One CWP/2 message: `[version, type]`, a JSON header, and for INPUT and RESULT a payload.
public struct ProtocolMessage: Sendable {
    public static let version: UInt8 = 2
    /// Largest JSON header accepted.
    public static let maxHeader = 1 << 20

    public let kind: MessageKind
    public let header: [UInt8]
    public let payload: [UInt8]?

    public init<H: Encodable>(_ kind: MessageKind, _ header: H, payload: [UInt8]? = nil) throws {
        self.kind = kind
        self.header = Array(try JSONEncoder().encode(header))
        self.payload = payload
    }

    public var frames: [[UInt8]] { headFrames + (payload.map { [$0] } ?? []) }

    /// The type and header frames: what precedes a payload sent from the caller's memory
    /// (`ZMQSocket.send(_:payload:)`).
    public var headFrames: [[UInt8]] { [[ProtocolMessage.version, kind.rawValue], header] }

    /// Parses frames (without the ROUTER's routing id).
    public init(frames: [[UInt8]]) throws(ProtocolError) {
        guard frames.count == 2 || frames.count == 3, frames[0].count == 2 else { throw .malformed("expected 2 or 3 frames with a 2-byte first frame") }
        guard frames[0][0] == ProtocolMessage.version else { throw .version(frames[0][0]) }
        guard let kind = MessageKind(rawValue: frames[0][1]) else { throw .malformed("unknown message type \(frames[0][1])") }
        guard frames[1].count <= ProtocolMessage.maxHeader else { throw .malformed("header of \(frames[1].count) bytes") }
        self.kind = kind
        self.header = frames[1]
        self.payload = frames.count == 3 ? frames[2] : nil
    }

    /// The header as `type`; a malformed one throws, naming the field and what was wrong.
    public func decode<H: Decodable>(_ type: H.Type) throws(ProtocolError) -> H {
        do {
            return try JSONDecoder().decode(type, from: Data(header))
        } catch let error as DecodingError {
            throw .malformed("\(kind) header: \(Self.explain(error))")
        } catch {
            throw .malformed("\(kind) header: \(error)")
        }
    }

    /// A decoding error in a few words: where in the header, and what was wrong.
    static func explain(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context, _ last: CodingKey? = nil) -> String {
            let keys = context.codingPath + (last.map { [$0] } ?? [])
            return keys.isEmpty ? "the header" : "`" + keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") + "`"
        }
        switch error {
        case .keyNotFound(let key, let context): return "\(path(context, key)) is missing"
        case .valueNotFound(let type, let context): return "\(path(context)) is null, expected \(type)"
        case .typeMismatch(let type, let context): return "\(path(context)) is not of type \(type): \(context.debugDescription)"
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

/// Header fields of each message type (docs/protocol.md §4).
public enum Header {
    public struct Hello: Codable, Sendable {
        public var threads: Int
        public var host: String
        /// Payload encodings this worker decodes and produces (`"planes-lz4"`, or none for raw only).
        public var encodings: [String]
        public init(threads: Int, host: String, encodings: [String] = [WireEncoding.compressedName]) {
            (self.threads, self.host, self.encodings) = (threads, host, encodings)
        }
    }
    /// A model file as the coordinator sees it: a worker reads the file itself only if its
    /// copy has the same size and header digest (xxHash64 of the length prefix and JSON header,
    /// a decimal string on the wire). For a remote model, `name` (the file's name in the model
    /// folder) and `headerBytes` (the length prefix and header, in bytes) say what to fetch.
    public struct ModelFile: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int
        @DecimalUInt64 public var headerDigest: UInt64
        public var name: String?
        public var headerBytes: Int?
        public init(path: String, size: Int, headerDigest: UInt64, name: String? = nil, headerBytes: Int? = nil) {
            self.path = path
            self.size = size
            self.headerDigest = headerDigest
            self.name = name
            self.headerBytes = headerBytes
        }
    }
    /// A Hub repository at a commit, which each worker finds at its own Hub endpoint.
    public struct HubSource: Codable, Sendable, Equatable {
        public var repository: String
        public var commit: String
    }
    public struct Model: Codable, Sendable {
        /// The model's folder (or file) on the coordinator, absolute; for a remote model, its
        /// Hub reference or folder URL.
        public var path: String
        public var files: [ModelFile]
        /// A remote model's files are on the Hub (`hub`) or under a folder URL (`url`): a
        /// worker without them on disk may fetch the byte ranges its tasks read itself.
        public var hub: HubSource?
        public var url: String?
    }
    public struct Welcome: Codable, Sendable {
        public var heartbeatMs: Int
        public var liveness: Int
        /// The job kind (`merge`, `sweep`, `analyze`) and its setup, JSON text.
        public var kind: String
        public var setup: String
        public var models: [Model]
        public var chunkBytes: Int
        /// How payloads are cut (`chunkBytes` must be positive: see `Worker.setUp`).
        public var chunks: ChunkLayout { ChunkLayout(size: chunkBytes) }
        public var compress: Bool
    }
    public struct Ready: Codable, Sendable {
        /// True when the worker reads inputs itself: from its own copy of the model files, or
        /// by fetching a remote model's byte ranges.
        public var sharedStorage: Bool
        /// Why it cannot, when it cannot.
        public var reason: String?
        /// With `sharedStorage`: how it reads each model of WELCOME, `"local"` or `"fetch"`.
        public var reads: [String]?
        public init(sharedStorage: Bool, reason: String? = nil, reads: [String]? = nil) {
            (self.sharedStorage, self.reason, self.reads) = (sharedStorage, reason, reads)
        }
    }
    /// An input the coordinator ships because the worker cannot read it.
    public struct ShippedInput: Codable, Sendable, Equatable {
        public var dtype: String
        public var shape: [Int]
        public var bytes: Int
        /// True: not shipped again, the worker kept it from an earlier task of this job.
        public var held: Bool?
    }
    public struct Task: Codable, Sendable {
        public var task: Int
        public var attempt: Int
        /// What to compute, JSON text for the job kind's runner.
        public var work: String
        public var inputs: [TaskInput]
        public var parts: [TaskPart]
        /// Present when the inputs follow as INPUT messages (one entry per input).
        public var shipped: [ShippedInput]?
        /// True: the worker keeps this task's shipped inputs for the job's later tasks.
        public var keep: Bool?
    }
    /// A chunk of payload: INPUT (`index` = input) or RESULT (`index` = part). `checksum` (the
    /// xxHash64 of the uncompressed bytes) travels as a decimal string.
    public struct Chunk: Codable, Sendable {
        public var task: Int; public var attempt: Int; public var index: Int; public var offset: Int; public var size: Int
        public var encoding: UInt8; @DecimalUInt64 public var checksum: UInt64
        public init(task: Int, attempt: Int, index: Int, offset: Int, size: Int, encoding: UInt8, checksum: UInt64) {
            (self.task, self.attempt, self.index, self.offset, self.size, self.encoding) = (task, attempt, index, offset, size, encoding)
            self.checksum = checksum
        }
    }
    public struct Done: Codable, Sendable {
        public var task: Int; public var attempt: Int; public var chunks: Int
        public init(task: Int, attempt: Int, chunks: Int) { (self.task, self.attempt, self.chunks) = (task, attempt, chunks) }
    }
    public struct Failure: Codable, Sendable {
        public var task: Int?; public var attempt: Int?; public var code: String; public var message: String
        public init(task: Int?, attempt: Int?, code: String, message: String) { (self.task, self.attempt, self.code, self.message) = (task, attempt, code, message) }
    }
    public struct Empty: Codable, Sendable { public init() {} }
    /// `final` false: this job is over but another follows on the same endpoint (a sweep's
    /// next batch); the worker says HELLO again instead of exiting.
    public struct Shutdown: Codable, Sendable {
        public var final: Bool?
        public init(final: Bool) { self.final = final }
    }
}
