import ClusterRuntime
import Testing

/// Which workers ask for compressed payloads (`--wire-compression`).
@Suite struct WireCompressionTests {
    @Test("--wire-compression auto asks for compression only off-host; always and never do as they say")
    func compressionChoice() {
        for local in ["tcp://127.0.0.1:5555", "tcp://localhost:5555", "tcp://[::1]:5555", "ipc:///tmp/c", "inproc://c"] {
            #expect(!WireCompression.auto.speaksLZ4(to: local), "\(local)")
            #expect(WireCompression.always.speaksLZ4(to: local), "\(local)")
        }
        for remote in ["tcp://10.0.0.5:5555", "tcp://coordinator.example:5555"] {
            #expect(WireCompression.auto.speaksLZ4(to: remote), "\(remote)")
            #expect(!WireCompression.never.speaksLZ4(to: remote), "\(remote)")
        }
    }
}
