/// Reductions over Float32 buffers, accumulated in Float64 with 8 independent lanes (which
/// vectorises and keeps error well below Float32 rounding). Results depend only on the
/// buffer's contents, so per-chunk partials combined in chunk order are reproducible.
public enum VectorOps {
    /// Σ |a[i] − b[i]|.
    @inline(__always)
    public static func sumOfAbsoluteDifferences(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Double {
        precondition(a.count == b.count)
        var lanes = SIMD8<Double>(repeating: 0)
        let n = a.count
        var i = 0
        while i + 8 <= n {
            let x = SIMD8<Float>(a[i], a[i + 1], a[i + 2], a[i + 3], a[i + 4], a[i + 5], a[i + 6], a[i + 7])
            let y = SIMD8<Float>(b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7])
            lanes += SIMD8<Double>(abs(x - y))
            i += 8
        }
        var total = lanes.sum()
        while i < n { total += Double(abs(a[i] - b[i])); i += 1 }
        return total
    }

    /// Σ |a[i]|.
    @inline(__always)
    public static func sumOfMagnitudes(_ a: UnsafeBufferPointer<Float>) -> Double {
        var lanes = SIMD8<Double>(repeating: 0)
        let n = a.count
        var i = 0
        while i + 8 <= n {
            let x = SIMD8<Float>(a[i], a[i + 1], a[i + 2], a[i + 3], a[i + 4], a[i + 5], a[i + 6], a[i + 7])
            lanes += SIMD8<Double>(abs(x))
            i += 8
        }
        var total = lanes.sum()
        while i < n { total += Double(abs(a[i])); i += 1 }
        return total
    }
}

private func abs(_ v: SIMD8<Float>) -> SIMD8<Float> {
    SIMD8<Float>(bitPattern: v.bitPattern & SIMD8<UInt32>(repeating: 0x7FFF_FFFF))
}

extension SIMD8 where Scalar == Float {
    fileprivate var bitPattern: SIMD8<UInt32> { unsafeBitCast(self, to: SIMD8<UInt32>.self) }
    fileprivate init(bitPattern: SIMD8<UInt32>) { self = unsafeBitCast(bitPattern, to: SIMD8<Float>.self) }
}

extension SIMD8 where Scalar == Float {
    /// The first `count` (≤ 8) floats at `pointer`, zeros after: one group of a loop over a
    /// buffer eight at a time, its last group included.
    @inlinable @inline(__always)
    public init(loading pointer: UnsafePointer<Float>, count: Int) {
        if count == 8 { self = UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self); return }
        self.init(repeating: 0)
        for j in 0..<count { self[j] = pointer[j] }
    }

    /// Stores the first `count` (≤ 8) lanes at `pointer`.
    @inlinable @inline(__always)
    public func store(to pointer: UnsafeMutablePointer<Float>, count: Int) {
        if count == 8 { UnsafeMutableRawPointer(pointer).storeBytes(of: self, as: SIMD8<Float>.self); return }
        for j in 0..<count { pointer[j] = self[j] }
    }
}
