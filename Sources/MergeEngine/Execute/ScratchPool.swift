import Foundation

/// Float32 buffers reused across chunks, passes and tensors. Fresh multi-megabyte
/// allocations are served by mmap and zeroed by the kernel on first touch; reusing warm
/// buffers removes that cost from every pass. At most `limit` buffers are kept.
final class ScratchPool: @unchecked Sendable {
    static let shared = ScratchPool(limit: 16)

    private let limit: Int
    private let lock = NSLock()
    private var free: [UnsafeMutableBufferPointer<Float>] = []

    init(limit: Int) { self.limit = limit }

    /// A buffer of at least `count` floats (contents undefined).
    func take(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        lock.lock()
        let index = free.lastIndex { $0.count >= count }
        let reused = index.map { free.remove(at: $0) }
        lock.unlock()
        return reused ?? .allocate(capacity: count)
    }

    /// Returns a buffer for reuse (or frees it when the pool is full).
    func give(_ buffer: UnsafeMutableBufferPointer<Float>) {
        lock.lock()
        let kept = free.count < limit
        if kept { free.append(buffer) }
        lock.unlock()
        if !kept { buffer.deallocate() }
    }
}
