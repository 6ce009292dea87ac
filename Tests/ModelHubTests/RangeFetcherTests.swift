import Foundation
@testable import ModelHub
import TestSupport
import Testing

/// Byte ranges read with `RangeFetcher` from the stand-in server: the bytes are the file's,
/// coalesced or not, through injected failures, cut connections and redirects, and the
/// token never follows a redirect to another host.
@Suite struct RangeFetcherTests {
    /// A 3 MB file of random bytes served as `/files/data/blob.bin`.
    struct Served {
        let bytes: [UInt8] = {
            var random = SplitMix64(seed: 11)
            return random.bytes(3_000_000)
        }()
        let server: HubServer
        var url: String { server.folderURL("data") + "/blob.bin" }

        init(fail: (file: String, times: Int, status: Int)? = nil, cut: (file: String, after: Int, times: Int)? = nil,
             redirect: String? = nil) throws {
            server = try HubServer(cut: cut, folders: ["data": HubFixture.folder(with: "blob.bin", bytes)],
                                   fail: fail.map { ($0.file, $0.times, $0.status, 0) }, redirect: redirect)
        }

        /// GET requests for the file, in order (on either port).
        var reads: [HubServer.Request] { get throws { try server.requests.filter { $0.path.hasSuffix("/blob.bin") && $0.method == "GET" } } }
    }

    /// `count` disjoint ranges of a file of `size` bytes, at random, with gaps between them, shuffled.
    static func disjointRanges(_ count: Int, in size: Int, seed: UInt64) -> [Range<Int>] {
        var random = SplitMix64(seed: seed)
        var points = Set<Int>()
        while points.count < 2 * count { points.insert(Int.random(in: 0..<size, using: &random)) }
        let sorted = points.sorted()
        return stride(from: 0, to: sorted.count, by: 2).map { sorted[$0]..<sorted[$0 + 1] }.shuffled(using: &random)
    }

    static func options(gap: Int, limit: Int = 64 << 20, attempts: Int = 5) -> RangeFetcher.Options {
        var options = RangeFetcher.Options()
        options.coalescingGap = gap
        options.requestLimit = limit
        options.attempts = attempts
        options.retryDelay = 0
        return options
    }

    /// Fetches `ranges` and returns what was delivered for each, assembled.
    static func fetch(_ url: String, size: Int, _ ranges: [Range<Int>], options: RangeFetcher.Options, token: String? = nil) throws -> [[UInt8]] {
        let fetcher = RangeFetcher(token: token, options: options)
        defer { fetcher.shutdown() }
        let pieces = Collected<(Int, Int, [UInt8])>()
        try fetcher.fetch(url, fileSize: size, ranges: ranges) { range, offset, bytes in pieces.append((range, offset, Array(bytes))) }
        var result = ranges.map { [UInt8](repeating: 0, count: $0.count) }
        var delivered = ranges.map { _ in 0 }
        for (range, offset, bytes) in pieces.values {
            result[range].replaceSubrange(offset..<(offset + bytes.count), with: bytes)
            delivered[range] += bytes.count
        }
        #expect(delivered == ranges.map(\.count), "each byte is delivered exactly once")
        return result
    }

    @Test func rangesReadSeparatelyEqualTheFilesBytes() throws {
        let served = try Served()
        let ranges = Self.disjointRanges(40, in: served.bytes.count, seed: 1)
        let fetched = try Self.fetch(served.url, size: served.bytes.count, ranges, options: Self.options(gap: 0))
        #expect(fetched == ranges.map { Array(served.bytes[$0]) })
        #expect(try served.reads.count == ranges.count)
    }

    @Test func neighbouringRangesAreCoalescedIntoFewerRequests() throws {
        let served = try Served()
        let ranges = Self.disjointRanges(40, in: served.bytes.count, seed: 2)
        let fetched = try Self.fetch(served.url, size: served.bytes.count, ranges, options: Self.options(gap: 1 << 20))
        #expect(fetched == ranges.map { Array(served.bytes[$0]) })
        #expect(try served.reads.count == 1)

        // Within a request limit: more requests, each at most the limit, the same bytes.
        let before = try served.reads.count
        let limited = try Self.fetch(served.url, size: served.bytes.count, ranges, options: Self.options(gap: 1 << 20, limit: 200_000))
        #expect(limited == fetched)
        let sizes = try served.reads.dropFirst(before).map { request -> Int in
            let bounds = request.range!.dropFirst("bytes=".count).split(separator: "-").map { Int($0)! }
            return bounds[1] - bounds[0] + 1
        }
        #expect(sizes.count >= served.bytes.count / 200_000 / 2 && sizes.allSatisfy { $0 <= 200_000 })
    }

    @Test func spansCoalesceWithinTheGapAndSplitAtTheLimit() {
        let spans = RangeSpans([10..<20, 0..<5, 25..<30, 100..<350], gap: 5, limit: 100).spans
        #expect(spans.map(\.file) == [0..<30, 100..<200, 200..<300, 300..<350])
        #expect(spans[0].parts == [.init(range: 1, file: 0..<5, offset: 0), .init(range: 0, file: 10..<20, offset: 0),
                                   .init(range: 2, file: 25..<30, offset: 0)])
        #expect(spans[2].parts == [.init(range: 3, file: 200..<300, offset: 100)])
        #expect(RangeSpans([0..<10, 16..<20], gap: 5, limit: 100).spans.count == 2)
        #expect(RangeSpans([0..<0], gap: 5, limit: 100).spans.isEmpty)
    }

    @Test func injectedServerErrorsAreRetried() throws {
        let served = try Served(fail: (file: "blob.bin", times: 2, status: 500))
        let fetched = try Self.fetch(served.url, size: served.bytes.count, [1000..<50_000], options: Self.options(gap: 0))
        #expect(fetched == [Array(served.bytes[1000..<50_000])])
        #expect(try served.reads.map(\.range) == Array(repeating: "bytes=1000-49999", count: 3))
    }

    @Test func aCutConnectionResumesFromTheFirstByteNotReceived() throws {
        let served = try Served(cut: (file: "blob.bin", after: 100_000, times: 2))
        let fetched = try Self.fetch(served.url, size: served.bytes.count, [500_000..<900_000], options: Self.options(gap: 0))
        #expect(fetched == [Array(served.bytes[500_000..<900_000])])
        #expect(try served.reads.map(\.range) == ["bytes=500000-899999", "bytes=600000-899999", "bytes=700000-899999"])
    }

    @Test func failuresInARowEndInAnErrorNamingTheURL() throws {
        let served = try Served(fail: (file: "blob.bin", times: 10, status: 503))
        let error = #expect(throws: RemoteError.self) {
            try Self.fetch(served.url, size: served.bytes.count, [0..<10], options: Self.options(gap: 0, attempts: 3))
        }
        #expect(error == .network(url: served.url, attempts: 3, reason: "HTTP 503"))
        #expect(error?.description == "\(served.url): failed 3 times (HTTP 503)")
        #expect(try served.reads.count == 3)
    }

    @Test func aFileOfAnotherSizeThanPlannedIsRefused() throws {
        let served = try Served()
        let error = #expect(throws: RemoteError.self) {
            try Self.fetch(served.url, size: served.bytes.count + 1, [0..<10], options: Self.options(gap: 0))
        }
        #expect(error == .invalidResponse(url: served.url, reason: "the file has 3000000 bytes, not the 3000001 planned"))
    }

    @Test func aRangePastTheEndOfAShorterFileIsA416NamingTheRange() throws {
        let served = try Served()
        let size = served.bytes.count
        let error = #expect(throws: RemoteError.self) {
            try Self.fetch(served.url, size: size + 100, [(size + 10)..<(size + 20)], options: Self.options(gap: 0))
        }
        #expect(error == .invalidResponse(url: served.url, reason: "HTTP 416 (range not satisfiable) for bytes=\(size + 10)-\(size + 19): "
                                          + "the file is not the \(size + 100) bytes planned"))
        #expect(try served.reads.count == 1, "not retried")
    }

    @Test func aRedirectToAnotherHostDoesNotCarryTheToken() throws {
        let served = try Served(redirect: "blob.bin")
        let fetched = try Self.fetch(served.url, size: served.bytes.count, [10..<20, 2_000_000..<2_000_100],
                                     options: Self.options(gap: 0), token: "secret")
        #expect(fetched == [Array(served.bytes[10..<20]), Array(served.bytes[2_000_000..<2_000_100])])
        let reads = try served.reads
        let hub = reads.filter { "http://127.0.0.1:\($0.port)" == served.server.endpoint }
        let cdn = reads.filter { "http://localhost:\($0.port)" == served.server.cdnEndpoint }
        #expect(hub.count == 2 && cdn.count == 2)
        #expect(hub.allSatisfy { $0.authorization == "Bearer secret" })
        #expect(cdn.allSatisfy { $0.authorization == nil })
        #expect(Set(cdn.map(\.range)) == ["bytes=10-19", "bytes=2000000-2000099"], "the range follows the redirect")
    }
}
