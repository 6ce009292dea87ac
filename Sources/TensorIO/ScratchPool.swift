import Foundation

/// Float32 buffers reused across chunks, passes and tensors (compute scratch, and the bytes
/// `SafeTensorsWriter` writes). Fresh multi-megabyte allocations are served by mmap and
/// zeroed by the kernel on first touch; reusing warm buffers removes that cost from every pass. At most `limit` buffers are kept, and buffers
/// outgrown by a larger request are released.
public final class ScratchPool: @unchecked Sendable {
    public static let shared = ScratchPool(limit: 16)

    private let limit: Int
    private let lock = NSLock()
    private var free: [UnsafeMutableBufferPointer<Float>] = []

    init(limit: Int) { self.limit = limit }

    /// A buffer of at least `count` floats (contents undefined). When none is large enough,
    /// the smaller free ones are released: the new, larger buffer will take their place, so
    /// the pool holds at most one buffer per concurrent user, each of the largest size asked.
    public func take(_ count: Int) -> UnsafeMutableBufferPointer<Float> {
        lock.lock()
        let reused = free.lastIndex { $0.count >= count }.map { free.remove(at: $0) }
        let outgrown = reused == nil ? free : []
        if reused == nil { free.removeAll() }
        lock.unlock()
        outgrown.forEach { $0.deallocate() }
        return reused ?? .allocate(capacity: count)
    }

    /// Returns a buffer for reuse (or frees it when the pool is full).
    public func give(_ buffer: UnsafeMutableBufferPointer<Float>) {
        lock.lock()
        let kept = free.count < limit
        if kept { free.append(buffer) }
        lock.unlock()
        if !kept { buffer.deallocate() }
    }
}
