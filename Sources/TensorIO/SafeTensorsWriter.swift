#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Writes one safetensors file whose layout is fixed up front. The file's space is reserved
/// (`posix_fallocate`, so a full disk fails here, cleanly, before any work) and mapped (for
/// the header and for reading back); tensor bytes land at their offsets in any order and from
/// any thread, either copied (`write`) or produced by a tensor's `Region` into a pooled
/// buffer (`ScratchPool`) and written with `pwrite` (no write lock, no lookup). Written pages go straight to the page
/// cache: none is faulted in (and zero-filled) first, and none is in the process's resident set.
/// The file lives under a temporary name until `finish()` has checked that every byte was
/// written, fsynced it, and renamed it into place.
public final class SafeTensorsWriter: @unchecked Sendable {
    public let path: String
    public let layout: SafeTensorsLayout
    let temporaryPath: String
    private let fd: Int32
    /// The whole file, mapped shared and writable.
    private let mapping: UnsafeMutableRawBufferPointer
    /// Set once `fd` is closed, so that finish/abandon/deinit close it exactly once.
    private let isClosed = Atomic<Bool>(false)
    /// Byte ranges written so far for each tensor, by layout index: sorted, disjoint, merged.
    private let progress: Mutex<[[Range<Int>]]>

    /// Creates `path + ".partial"`, sizes it, and writes the header. With `reuse`, a
    /// `.partial` file an interrupted job left with exactly this layout is kept as it is
    /// (nothing counts as written until `markWritten`); any other file is replaced.
    public init(path: String, layout: SafeTensorsLayout, reuse: Bool = false) throws(SafeTensorsError) {
        self.path = path
        self.layout = layout
        self.temporaryPath = path + ".partial"
        let size = layout.fileSize
        // A shard an interrupted final phase had already renamed into place is taken back.
        if reuse && access(temporaryPath, F_OK) != 0 && SafeTensorsWriter.hasLayout(path, layout) { rename(path, temporaryPath) }
        let keep = reuse && SafeTensorsWriter.hasLayout(temporaryPath, layout)
        let fd = open(temporaryPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (keep ? 0 : O_TRUNC), 0o644)
        guard fd >= 0 else { throw SafeTensorsError(file: temporaryPath, .cannotOpen(String(cString: strerror(errno)))) }
        self.fd = fd
        self.progress = Mutex([[Range<Int>]](repeating: [], count: layout.tensors.count))
        let reserved = posix_fallocate(fd, 0, off_t(size))
        guard reserved == 0,
              let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            let code = reserved != 0 ? reserved : errno
            close(fd)
            unlink(temporaryPath)
            throw SafeTensorsError(file: temporaryPath, .ioFailure("cannot reserve \(size) bytes: \(String(cString: strerror(code)))"))
        }
        mapping = UnsafeMutableRawBufferPointer(start: base, count: size)
        layout.headerBytes.withUnsafeBytes { mapping.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// True when `path` is a file of exactly `layout`'s size that starts with its header.
    static func hasLayout(_ path: String, _ layout: SafeTensorsLayout) -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, Int(status.st_size) == layout.fileSize else { return false }
        var header = [UInt8](repeating: 0, count: layout.headerBytes.count)
        let read = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return read == header.count && header == layout.headerBytes
    }

    /// Calls `body` on each piece that `ranges` (within the tensor) cut from tensor `name`'s
    /// bytes as they are in the file now, in order. Each piece's pages leave the resident set
    /// after its call, so reading back a large tensor never holds more than a piece.
    public func pieces<R>(of name: String, _ ranges: [Range<Int>], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> [R] {
        guard let info = layout.info(name) else { throw SafeTensorsError(file: path, tensor: name, .missingTensor) }
        guard !isClosed.load(ordering: .acquiring) else {
            throw SafeTensorsError(file: path, tensor: name, .ioFailure("the file is already finished or abandoned"))
        }
        let start = layout.dataStart + Int(info.dataOffsets.lowerBound)
        return try ranges.map { range in
            precondition(range.lowerBound >= 0 && range.upperBound <= info.byteCount, "a piece lies within its tensor")
            let piece = (start + range.lowerBound)..<(start + range.upperBound)
            defer { MappedFile.release(UnsafeRawBufferPointer(mapping), piece) }
            return try body(UnsafeRawBufferPointer(rebasing: mapping[piece]))
        }
    }

    /// Counts all of tensor `name` as written (its bytes were verified by a resumed job).
    public func markWritten(_ name: String) throws(SafeTensorsError) {
        guard let index = layout.index(of: name) else { throw SafeTensorsError(file: path, tensor: name, .missingTensor) }
        let count = layout.tensors[index].byteCount
        progress.withLock { $0[index] = count == 0 ? [] : [0..<count] }
    }

    /// Flushes everything written so far to disk.
    public func sync() {
        guard !isClosed.load(ordering: .acquiring) else { return }
        msync(mapping.baseAddress, mapping.count, MS_SYNC)
        fsync(fd)
    }

    /// Writes all of `name`'s bytes.
    public func write(_ name: String, bytes: UnsafeRawBufferPointer) throws(SafeTensorsError) {
        try write(name, at: 0, bytes: bytes)
    }

    /// Writes `bytes` at `byteOffset` inside tensor `name` (a slice of it, e.g. a row range).
    public func write(_ name: String, at byteOffset: Int, bytes: UnsafeRawBufferPointer) throws(SafeTensorsError) {
        try region(name).fill(at: byteOffset, count: bytes.count) { destination in
            if let source = bytes.baseAddress { destination.baseAddress!.copyMemory(from: source, byteCount: bytes.count) }
        }
    }

    /// Tensor `name`'s place in the file, looked up once for all the writes into it.
    public func region(_ name: String) throws(SafeTensorsError) -> Region {
        guard let index = layout.index(of: name) else { throw SafeTensorsError(file: path, tensor: name, .missingTensor) }
        return Region(writer: self, index: index)
    }

    /// One tensor's bytes in the mapped file: writes into it look nothing up.
    public struct Region: Sendable {
        let writer: SafeTensorsWriter
        let index: Int

        /// Lets `body` write `count` bytes at `byteOffset` inside the tensor directly into the
        /// file's pages (e.g. converting Float32 results straight into the output dtype).
        public func fill(at byteOffset: Int, count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) throws(SafeTensorsError) {
            try writer.fill(index, at: byteOffset, count: count, body)
        }
    }

    private func fill(_ index: Int, at byteOffset: Int, count: Int, _ body: (UnsafeMutableRawBufferPointer) -> Void) throws(SafeTensorsError) {
        let info = layout.tensors[index]
        guard byteOffset >= 0, count >= 0, byteOffset <= info.byteCount, count <= info.byteCount - byteOffset else {
            let (end, overflow) = byteOffset.addingReportingOverflow(count)
            throw SafeTensorsError(file: path, tensor: info.name, .sizeMismatch(expected: UInt64(info.byteCount), actual: overflow ? .max : UInt64(max(0, end))))
        }
        guard !isClosed.load(ordering: .acquiring) else {
            throw SafeTensorsError(file: path, tensor: info.name, .ioFailure("the file is already finished or abandoned"))
        }
        let start = layout.dataStart + Int(info.dataOffsets.lowerBound) + byteOffset
        let floats = ScratchPool.shared.take((count + 3) / 4)
        defer { ScratchPool.shared.give(floats) }
        let buffer = UnsafeMutableRawBufferPointer(floats)
        body(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]))
        var done = 0
        while done < count {
            let n = pwrite(fd, buffer.baseAddress! + done, count - done, off_t(start + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SafeTensorsError(file: temporaryPath, tensor: info.name, .ioFailure("write failed: \(String(cString: strerror(errno)))")) }
            done += n
        }
        progress.withLock { _ = SafeTensorsWriter.add(byteOffset..<(byteOffset + count), to: &$0[index]) }
    }

    /// Adds `range` to sorted, disjoint, non-adjacent `ranges`, merging what it touches, and
    /// returns the merged range that now contains it.
    @discardableResult
    static func add(_ range: Range<Int>, to ranges: inout [Range<Int>]) -> Range<Int> {
        guard !range.isEmpty else { return range }
        var merged = range
        ranges.removeAll { r in
            guard r.lowerBound <= merged.upperBound && merged.lowerBound <= r.upperBound else { return false }
            merged = min(r.lowerBound, merged.lowerBound)..<max(r.upperBound, merged.upperBound)
            return true
        }
        ranges.insert(merged, at: ranges.firstIndex { $0.lowerBound > merged.lowerBound } ?? ranges.count)
        return merged
    }

    private static func isFull(_ ranges: [Range<Int>], _ info: TensorInfo) -> Bool {
        info.byteCount == 0 || ranges == [0..<info.byteCount]
    }

    /// True once every tensor has received all its bytes.
    public var isComplete: Bool {
        progress.withLock { written in zip(written, layout.tensors).allSatisfy { SafeTensorsWriter.isFull($0, $1) } }
    }

    /// Checks completeness, fsyncs, closes and renames the file into place.
    public func finish() throws(SafeTensorsError) {
        let missing: String? = progress.withLock { written in
            zip(written, layout.tensors).first(where: { !SafeTensorsWriter.isFull($0, $1) })?.1.name
        }
        if let missing {
            throw SafeTensorsError(file: path, tensor: missing, .ioFailure("not all bytes were written before finishing"))
        }
        guard msync(mapping.baseAddress, mapping.count, MS_SYNC) == 0, fsync(fd) == 0 else {
            throw SafeTensorsWriter.ioError(temporaryPath, "fsync")
        }
        closeOnce()
        guard rename(temporaryPath, path) == 0 else { throw SafeTensorsWriter.ioError(path, "rename") }
    }

    /// Closes and deletes the temporary file.
    public func abandon() {
        closeOnce()
        unlink(temporaryPath)
    }

    private func closeOnce() {
        if !isClosed.exchange(true, ordering: .acquiringAndReleasing) {
            munmap(mapping.baseAddress, mapping.count)
            close(fd)
        }
    }

    deinit { closeOnce() }

    static func ioError(_ path: String, _ what: String, _ code: Int32 = errno) -> SafeTensorsError {
        SafeTensorsError(file: path, .ioFailure("\(what) failed: \(String(cString: strerror(code)))"))
    }
}
