#if canImport(Glibc)
import Glibc
#endif
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// Reads byte ranges of files over HTTP with `Range:` requests: neighbouring ranges are
/// coalesced (`RangeSpans`), several requests are in flight, a cut, stalled or 5xx request
/// is retried with exponential backoff and resumes from its first byte not yet received,
/// and bytes are handed to the caller as they arrive (memory stays bounded by the network
/// buffers, whatever the ranges' sizes). Every answer must be `206 Partial Content` whose
/// `Content-Range` is exactly the bytes asked for, of a file of the size the caller
/// planned. Redirects are followed; the token goes only to the origin of the URL asked for,
/// never to a redirect target on another host (`HubHTTP.send`).
public final class RangeFetcher: Sendable {
    public struct Options: Sendable {
        /// Requests in flight at once.
        public var concurrency = 4
        /// Ranges at most this many bytes apart are read by one request.
        public var coalescingGap = 1 << 20
        /// Most bytes one request asks for; a longer range is read by several.
        public var requestLimit = 64 << 20
        /// Failures in a row (without a byte received in between) before a request gives up.
        public var attempts = 5
        /// Seconds before the first retry; each further one waits twice as long (at most 30 s).
        public var retryDelay = 0.5
        /// Seconds an answer may go without a byte before the request counts as failed.
        public var stallTimeout = 10.0

        public init() {}

        /// Attempts, retry delay and stall timeout from `settings` (`HF_HUB_DOWNLOAD_TIMEOUT`).
        public init(settings: HubSettings) {
            attempts = settings.attempts
            retryDelay = settings.retryDelay
            stallTimeout = settings.downloadTimeout
        }
    }

    public let options: Options
    let http: HubHTTP

    /// `token`: sent as `Authorization: Bearer` to the origin of each URL fetched (see
    /// `HubSettings.token(for:)` for which URLs should get it).
    public init(token: String?, options: Options = Options()) {
        self.options = options
        http = HubHTTP(token: token, stallTimeout: options.stallTimeout)
    }

    /// Closes the connections; the fetcher cannot be used afterwards.
    public func shutdown() { http.shutdown() }

    /// Reads `ranges` (which must lie within the file's `fileSize` bytes, as a plan from its
    /// header says) of `url`. `deliver(range, offset, bytes)` gets the bytes of `ranges[range]`
    /// that start `offset` bytes into it, each byte exactly once; it is called from several
    /// threads at once (for different requests) and must copy the bytes before it returns.
    /// Returns when every range is delivered; on an error, after the requests in flight have
    /// stopped (some ranges may then be partly delivered).
    public func fetch(_ url: String, fileSize: Int, ranges: [Range<Int>],
                      deliver: @escaping @Sendable (_ range: Int, _ offset: Int, _ bytes: UnsafeRawBufferPointer) -> Void) throws(RemoteError) {
        for range in ranges {
            precondition(range.lowerBound >= 0 && range.upperBound <= fileSize, "range \(range) outside the \(fileSize) bytes of \(url)")
        }
        let spans = RangeSpans(ranges, gap: options.coalescingGap, limit: options.requestLimit).spans
        try Parallel.forEach(spans.count, width: options.concurrency) { [self] (index, stopped) throws(RemoteError) in
            let span = spans[index]
            _ = try read(url, span.file, size: fileSize, cancelled: stopped) { position, bytes in
                for part in span.parts {
                    let start = max(position, part.file.lowerBound), end = min(position + bytes.count, part.file.upperBound)
                    guard start < end else { continue }
                    deliver(part.range, part.offset + start - part.file.lowerBound,
                            UnsafeRawBufferPointer(rebasing: bytes[(start - position)..<(end - position)]))
                }
            }
        }
    }

    /// Reads file bytes `span` of `url` into `write(position, bytes)` (positions in the file,
    /// increasing), resuming and retrying as `fetch` does. With `size`, the answer must be
    /// `span` (cut at the end of the file) of a file of that size; without, the span is cut at
    /// the end of the file the first answer's Content-Range announces. Returns the file's size.
    func read(_ url: String, _ span: Range<Int>, size: Int?, cancelled: @escaping () -> Bool = { false },
              write: @escaping (Int, UnsafeRawBufferPointer) -> Void) throws(RemoteError) -> Int {
        let progress = SpanProgress(url: url, span: span, size: size)
        var failures = 0
        var reason = ""
        while progress.position < progress.end {
            pause(after: failures)
            let before = progress.position
            let requested = "bytes=\(progress.position)-\(progress.end - 1)"
            let sink = HubHTTP.BodySink(
                start: { status, headers in try progress.accept(status, headers, requested: requested) },
                write: { buffer in
                    guard !cancelled() else { throw Cancelled() }
                    guard buffer.readableBytes <= progress.end - progress.position else {
                        throw RemoteError.invalidResponse(url: url, reason: "more bytes than the \(progress.end - before) asked for with \(requested)")
                    }
                    buffer.withUnsafeReadableBytes { write(progress.position, $0) }
                    progress.position += buffer.readableBytes
                })
            do {
                let response = try http.send(.GET, url, headers: [("Range", requested)], sink: sink)
                switch response.status {
                case 200..<300:
                    reason = "the answer ended after \(progress.position - before) of the \(progress.end - before) bytes asked for"
                case 416:
                    throw RemoteError.invalidResponse(url: url, reason: "HTTP 416 (range not satisfiable) for \(requested)"
                        + (size.map { ": the file is not the \($0) bytes planned" } ?? ": the file is shorter"))
                case 408, 429, 500...:
                    reason = "HTTP \(response.status)"
                default:
                    throw RemoteError.http(url: url, status: response.status)
                }
            } catch is Cancelled {
                throw .network(url: url, attempts: failures, reason: "stopped: another range failed")
            } catch {
                reason = try retryReason(error, url: url)
            }
            guard progress.position < progress.end else { break }
            // A request that moved forward is resuming, not failing.
            failures = progress.position > before ? 1 : failures + 1
            if failures >= max(options.attempts, 1) { throw .network(url: url, attempts: failures, reason: reason) }
        }
        return progress.size!
    }

    /// Waits before the retry that follows `failures` failures in a row (none for 0).
    /// Why a request that failed with `error` is worth another attempt, or the error to stop
    /// with (an answer that was wrong, not merely missing).
    func retryReason(_ error: any Error, url: String) throws(RemoteError) -> String {
        switch error {
        case let error as RemoteError: throw error
        case let error as HubHTTP.BodyTooLarge: throw .invalidResponse(url: url, reason: error.description)
        case let error as HTTPClientError where error == .readTimeout: return "no data for \(options.stallTimeout.formatted) s"
        default: return "\(error)"
        }
    }

    func pause(after failures: Int) {
        guard failures > 0 else { return }
        usleep(UInt32(min(options.retryDelay * Double(1 << min(failures - 1, 16)), 30) * 1_000_000))
    }
}

/// Where one span's reading stands: the next byte wanted and the end, which an answer may
/// cut to the end of the file when its size was not known. Touched by one request at a time.
private final class SpanProgress: @unchecked Sendable {
    let url: String
    var position: Int
    var end: Int
    var size: Int?

    init(url: String, span: Range<Int>, size: Int?) {
        self.url = url
        position = span.lowerBound
        end = size.map { min(span.upperBound, $0) } ?? span.upperBound
        self.size = size
    }

    /// Checks that an answer is the `206` with the Content-Range `requested` calls for.
    func accept(_ status: Int, _ headers: HTTPHeaders, requested: String) throws(RemoteError) {
        guard status == 206 else {
            throw .invalidResponse(url: url, reason: "HTTP \(status) instead of 206 for \(requested) (the server does not serve byte ranges)")
        }
        let text = headers.first(name: "Content-Range") ?? ""
        guard let (first, last, total) = SpanProgress.parse(text) else {
            throw .invalidResponse(url: url, reason: "Content-Range \"\(text)\" for \(requested), not \"bytes FIRST-LAST/SIZE\"")
        }
        if let size, total != size { throw .invalidResponse(url: url, reason: "the file has \(total) bytes, not the \(size) planned") }
        let end = min(end, total)
        guard first == position, last == end - 1 else {
            throw .invalidResponse(url: url, reason: "Content-Range \"\(text)\" for \(requested)")
        }
        self.end = end
        size = total
    }

    /// `bytes FIRST-LAST/SIZE` as numbers.
    private static func parse(_ text: String) -> (Int, Int, Int)? {
        guard text.hasPrefix("bytes ") else { return nil }
        let numbers = text.dropFirst(6).split(separator: "/", omittingEmptySubsequences: false)
        guard numbers.count == 2, let total = Int(numbers[1]) else { return nil }
        let bounds = numbers[0].split(separator: "-", omittingEmptySubsequences: false)
        guard bounds.count == 2, let first = Int(bounds[0]), let last = Int(bounds[1]), first <= last, last < total else { return nil }
        return (first, last, total)
    }
}

/// Stops a request when another of the same `fetch` has failed.
private struct Cancelled: Error {}
