#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only into memory. This type owns the raw pointer; everything
/// else in Crucible reads tensor bytes through it. The mapping lives as long as the object.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// The file's bytes (empty for an empty file).
    public let bytes: UnsafeRawBufferPointer

    /// Maps `path`, a regular file (`FileSystem.openRegularFile`: a FIFO or a device is
    /// refused, never waited on). Throws `.cannotOpen` naming the system error.
    public init(path: String) throws(SafeTensorsError) {
        self.path = path
        let (fd, info) = try FileSystem.openRegularFile(path)
        defer { close(fd) }
        let size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw SafeTensorsError(file: path, .cannotOpen("mmap failed: \(String(cString: strerror(errno)))"))
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    /// Tells the kernel the range will be read sequentially soon (readahead).
    public func willNeed(_ range: Range<Int>) {
        guard let base = bytes.baseAddress, !range.isEmpty else { return }
        let start = range.lowerBound / MappedFile.pageSize * MappedFile.pageSize
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), range.upperBound - start, MADV_WILLNEED)
    }

    /// Drops the pages wholly inside `range` from this process's resident set. The mapping
    /// stays valid: touching them again reads them back from the page cache or the file.
    public func release(_ range: Range<Int>) {
        MappedFile.release(bytes, range)
    }

    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// MADV_DONTNEED on the pages of `buffer` wholly inside `range`.
    static func release(_ buffer: UnsafeRawBufferPointer, _ range: Range<Int>) {
        guard let base = buffer.baseAddress, !range.isEmpty else { return }
        let address = Int(bitPattern: base)
        let start = (address + range.lowerBound + pageSize - 1) / pageSize * pageSize
        let end = (address + range.upperBound) / pageSize * pageSize
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, MADV_DONTNEED)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
