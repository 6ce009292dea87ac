/// Branch-free selection for inner loops whose conditions are unpredictable (random masks
/// keep about half the elements; a branch there mispredicts half the time).

/// `value` if `condition`, else +0.0, by masking the bits: no branch, exact.
@inlinable @inline(__always)
public func keep(_ value: Float, if condition: Bool) -> Float {
    Float(bitPattern: value.bitPattern & (0 &- UInt32(unsafeBitCast(condition, to: UInt8.self))))
}

/// 1 if `condition`, else 0.
@inlinable @inline(__always)
public func bit(_ condition: Bool) -> UInt64 {
    UInt64(unsafeBitCast(condition, to: UInt8.self))
}
