/// When a worker asks for compressed payloads (plane shuffle + LZ4, in its HELLO `encodings`):
/// compression pays on a network and costs on loopback, where the copy is cheaper than the codec.
public enum WireCompression: String, Sendable, CaseIterable {
    /// LZ4 unless the coordinator's endpoint is on this host (loopback, ipc, inproc).
    case auto
    case always
    case never

    /// Whether a worker connecting to `endpoint` asks for compressed payloads.
    public func speaksLZ4(to endpoint: String) -> Bool {
        switch self {
        case .auto: return !JobRuntime.isLocal(endpoint)
        case .always: return true
        case .never: return false
        }
    }
}
