import CLZ4
import CZMQ
import Testing

@Suite("System libraries: libzmq and liblz4")
struct SystemLibrariesTests {
    @Test("libzmq is version 4.3.x")
    func zmqVersion() {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        #expect(major == 4 && minor == 3, "libzmq \(major).\(minor).\(patch)")
    }

    @Test("liblz4 is version 1.9.x")
    func lz4Version() {
        let version = LZ4_versionNumber()
        #expect(version / 10_000 == 1 && version / 100 % 100 == 9, "liblz4 \(version)")
    }

    @Test("a ZeroMQ PAIR socket pair round-trips messages over inproc in both directions")
    func zmqPairRoundTrip() throws {
        let context = try #require(zmq_ctx_new())
        defer { #expect(zmq_ctx_term(context) == 0) }
        let server = try #require(zmq_socket(context, ZMQ_PAIR))
        let client = try #require(zmq_socket(context, ZMQ_PAIR))
        var linger: Int32 = 0
        var timeout: Int32 = 5_000
        for socket in [server, client] {
            #expect(zmq_setsockopt(socket, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size) == 0)
            #expect(zmq_setsockopt(socket, ZMQ_RCVTIMEO, &timeout, MemoryLayout<Int32>.size) == 0)
        }
        defer {
            #expect(zmq_close(client) == 0)
            #expect(zmq_close(server) == 0)
        }
        #expect(zmq_bind(server, "inproc://crucible-system-libraries-test") == 0)
        #expect(zmq_connect(client, "inproc://crucible-system-libraries-test") == 0)

        let request = Array("tensor model.layers.0.mlp.up_proj.weight".utf8)
        #expect(request.withUnsafeBytes { zmq_send(client, $0.baseAddress, $0.count, 0) } == Int32(request.count))
        var buffer = [UInt8](repeating: 0, count: 256)
        let received = buffer.withUnsafeMutableBytes { zmq_recv(server, $0.baseAddress, $0.count, 0) }
        #expect(received == Int32(request.count), "errno \(zmq_errno())")
        #expect(Array(buffer.prefix(Int(max(0, received)))) == request)

        let reply = (0..<200).map { UInt8($0) }
        #expect(reply.withUnsafeBytes { zmq_send(server, $0.baseAddress, $0.count, 0) } == Int32(reply.count))
        var replyBuffer = [UInt8](repeating: 0, count: 256)
        let got = replyBuffer.withUnsafeMutableBytes { zmq_recv(client, $0.baseAddress, $0.count, 0) }
        #expect(got == 200)
        #expect(Array(replyBuffer.prefix(200)) == reply)
    }

    @Test("LZ4 block compression round-trips a compressible buffer with a ratio above 2")
    func lz4RoundTrip() {
        let line = Array("model.layers.17.self_attn.q_proj.weight BF16 [4096, 4096]\n".utf8)
        var source = [UInt8]()
        var i: UInt32 = 0
        while source.count < 256 * 1024 {
            source += line
            i &+= 2_654_435_761
            source.append(UInt8(truncatingIfNeeded: i >> 24))  // a little noise
        }
        let bound = Int(LZ4_compressBound(Int32(source.count)))
        #expect(bound >= source.count)
        var compressed = [UInt8](repeating: 0, count: bound)
        let compressedSize = source.withUnsafeBytes { src in
            compressed.withUnsafeMutableBytes { dst in
                LZ4_compress_default(src.baseAddress!.assumingMemoryBound(to: CChar.self), dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                                     Int32(src.count), Int32(dst.count))
            }
        }
        #expect(compressedSize > 0)
        #expect(Double(source.count) / Double(compressedSize) > 2, "ratio \(Double(source.count) / Double(compressedSize))")

        var restored = [UInt8](repeating: 0, count: source.count)
        let restoredSize = compressed.withUnsafeBytes { src in
            restored.withUnsafeMutableBytes { dst in
                LZ4_decompress_safe(src.baseAddress!.assumingMemoryBound(to: CChar.self), dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                                    compressedSize, Int32(dst.count))
            }
        }
        #expect(restoredSize == Int32(source.count))
        #expect(restored == source)

        // Corrupt input is reported, not overrun: a destination one byte short must fail.
        var short = [UInt8](repeating: 0, count: source.count - 1)
        let shortSize = compressed.withUnsafeBytes { src in
            short.withUnsafeMutableBytes { dst in
                LZ4_decompress_safe(src.baseAddress!.assumingMemoryBound(to: CChar.self), dst.baseAddress!.assumingMemoryBound(to: CChar.self),
                                    compressedSize, Int32(dst.count))
            }
        }
        #expect(shortSize < 0)
    }
}
