#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Writes one safetensors file whose layout is fixed up front. The header is written once;
/// tensor bytes are written with `pwrite` at their offsets, in any order and from any thread.
/// The file lives under a temporary name until `finish()` has checked that every byte was
/// written, fsynced it, and renamed it into place.
public final class SafeTensorsWriter: Sendable {
    public let path: String
    public let layout: SafeTensorsLayout
    let temporaryPath: String
    private let fd: Int32
    /// Set once `fd` is closed, so that finish/abandon/deinit close it exactly once.
    private let isClosed = Atomic<Bool>(false)
    /// Byte ranges written so far for each tensor, by layout index: sorted, disjoint, merged.
    private let progress: Mutex<[[Range<Int>]]>

    /// Creates `path + ".partial"`, sizes it, and writes the header.
    public init(path: String, layout: SafeTensorsLayout) throws(SafeTensorsError) {
        self.path = path
        self.layout = layout
        self.temporaryPath = path + ".partial"
        let fd = open(temporaryPath, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SafeTensorsError(file: temporaryPath, .cannotOpen(String(cString: strerror(errno)))) }
        self.fd = fd
        self.progress = Mutex([[Range<Int>]](repeating: [], count: layout.tensors.count))
        do throws(SafeTensorsError) {
            guard ftruncate(fd, off_t(layout.fileSize)) == 0 else { throw SafeTensorsWriter.ioError(temporaryPath, "ftruncate") }
            let failure = layout.headerBytes.withUnsafeBytes { pwriteAll($0, at: 0) }
            if let failure { throw SafeTensorsWriter.ioError(temporaryPath, "header write", failure) }
        } catch {
            close(fd)
            unlink(temporaryPath)
            throw error
        }
    }

    /// Writes all of `name`'s bytes.
    public func write(_ name: String, bytes: UnsafeRawBufferPointer) throws(SafeTensorsError) {
        try write(name, at: 0, bytes: bytes)
    }

    /// Writes `bytes` at `byteOffset` inside tensor `name` (a slice of it, e.g. a row range).
    public func write(_ name: String, at byteOffset: Int, bytes: UnsafeRawBufferPointer) throws(SafeTensorsError) {
        guard let index = layout.index(of: name) else { throw SafeTensorsError(file: path, tensor: name, .missingTensor) }
        let info = layout.tensors[index]
        guard byteOffset >= 0, byteOffset <= info.byteCount, bytes.count <= info.byteCount - byteOffset else {
            let (end, overflow) = byteOffset.addingReportingOverflow(bytes.count)
            throw SafeTensorsError(file: path, tensor: name, .sizeMismatch(expected: UInt64(info.byteCount), actual: overflow ? .max : UInt64(max(0, end))))
        }
        if let failure = pwriteAll(bytes, at: layout.dataStart + Int(info.dataOffsets.lowerBound) + byteOffset) {
            throw SafeTensorsError(file: temporaryPath, tensor: name, .ioFailure("write failed: \(String(cString: strerror(failure)))"))
        }
        progress.withLock { SafeTensorsWriter.add(byteOffset..<(byteOffset + bytes.count), to: &$0[index]) }
    }

    /// Adds `range` to sorted, disjoint, non-adjacent `ranges`, merging what it touches.
    static func add(_ range: Range<Int>, to ranges: inout [Range<Int>]) {
        guard !range.isEmpty else { return }
        var merged = range
        ranges.removeAll { r in
            guard r.lowerBound <= merged.upperBound && merged.lowerBound <= r.upperBound else { return false }
            merged = min(r.lowerBound, merged.lowerBound)..<max(r.upperBound, merged.upperBound)
            return true
        }
        ranges.insert(merged, at: ranges.firstIndex { $0.lowerBound > merged.lowerBound } ?? ranges.count)
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
        guard fsync(fd) == 0 else { throw SafeTensorsWriter.ioError(temporaryPath, "fsync") }
        closeOnce()
        guard rename(temporaryPath, path) == 0 else { throw SafeTensorsWriter.ioError(path, "rename") }
    }

    /// Closes and deletes the temporary file.
    public func abandon() {
        closeOnce()
        unlink(temporaryPath)
    }

    private func closeOnce() {
        if !isClosed.exchange(true, ordering: .acquiringAndReleasing) { close(fd) }
    }

    deinit { closeOnce() }

    /// Writes all of `bytes` at `offset`; returns errno on failure.
    private func pwriteAll(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Int32? {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            done += n
        }
        return nil
    }

    static func ioError(_ path: String, _ what: String, _ code: Int32 = errno) -> SafeTensorsError {
        SafeTensorsError(file: path, .ioFailure("\(what) failed: \(String(cString: strerror(code)))"))
    }
}
