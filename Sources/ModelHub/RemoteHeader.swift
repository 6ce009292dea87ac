#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TensorIO

/// Reads the header of a safetensors file over HTTP: a first read of `firstRead` bytes (the
/// whole header for most files: a shard of a 70B model has a header of a few KiB; or exactly
/// the header, when its length is known), and a second request for the rest when the 8-byte
/// length prefix says the header is longer. The length is checked against
/// `SafeTensorsHeader.maxHeaderLength` and the file size before that second request, so a
/// hostile prefix costs no more than the first read.
enum RemoteHeader {
    /// Bytes asked for by the first request.
    static let firstRead = 64 << 10

    /// The header of `url`; `size` is the file's size when known (the Hub says it), else the
    /// first answer's Content-Range tells it. `headerBytes`: the length prefix and header's
    /// size, when the plan knows it (the first read then asks for exactly that).
    static func read(_ url: String, name: String, size: Int?, headerBytes: Int? = nil, sha256: String?,
                     fetcher: RangeFetcher) throws(RemoteError) -> RemoteFile {
        func fail(_ problem: SafeTensorsError.Problem) -> RemoteError { .header(SafeTensorsError(file: url, problem)) }
        var prefix: [UInt8] = []
        let total = try fetcher.read(url, 0..<max(headerBytes ?? firstRead, 8), size: size) { _, bytes in prefix.append(contentsOf: bytes) }
        guard prefix.count >= 8 else { throw fail(.tooSmall(size: total)) }
        let length = prefix.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard length <= SafeTensorsHeader.maxHeaderLength else { throw fail(.headerTooLarge(length: length)) }
        let end = 8 + Int(length)
        guard end <= total else { throw fail(.headerPastEndOfFile(length: length, fileSize: total)) }
        if prefix.count < end {
            _ = try fetcher.read(url, prefix.count..<end, size: total) { _, bytes in prefix.append(contentsOf: bytes) }
        }
        let (header, digest) = try parse(Array(prefix[..<end]), size: total, url: url)
        return RemoteFile(name: name, url: url, size: total, header: header, headerDigest: digest, sha256: sha256)
    }

    /// Parses `prefix` (the length and the header) as the start of a file of `size` bytes with
    /// TensorIO's own parser and digest. `SafeTensorsFile` checks a header against the file
    /// that holds it (the tensors must fill it exactly), so the prefix is written into a
    /// sparse temporary file of `size` bytes (holes where the weights would be: no disk
    /// used, never read), opened and deleted at once. Such a file looks like the model to a
    /// size and header-digest check, so it never lives anywhere a model is looked for.
    private static func parse(_ prefix: [UInt8], size: Int, url: String) throws(RemoteError) -> (SafeTensorsHeader, UInt64) {
        let directory = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((directory + "/crucible-header-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw .local("\(directory): cannot create a file to parse the header of \(url) in: \(String(cString: strerror(errno)))") }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        defer { unlink(path) }
        let written = prefix.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        let sized = written == prefix.count && ftruncate(fd, off_t(size)) == 0
        let reason = String(cString: strerror(errno))
        close(fd)
        guard sized else { throw .local("\(path): cannot write the header of \(url) (\(size) bytes) into it: \(reason)") }
        do {
            let file = try SafeTensorsFile(path: path)
            return (file.header, file.headerDigest)
        } catch {
            throw .header(SafeTensorsError(file: url, tensor: error.tensor, error.problem))
        }
    }
}
