import CVectorKernels

/// Conversions between stored element types and Float32, the type all merge math runs in.
///
/// Contract (bit-exact with PyTorch):
/// - BF16 → F32 is exact (the 16 bits shifted left by 16). F16, F8 → F32 are exact.
/// - F32 → BF16 rounds to nearest, ties to even; every NaN becomes the quiet NaN 0x7FC0,
///   as `c10::BFloat16` does. Values beyond BF16's range round to ±Inf.
/// - F32 → F16 rounds to nearest even (IEEE), overflow to ±Inf, NaN stays NaN.
/// - F64 → F32 rounds to nearest even; F32 → F64 is exact.
/// Sources may be unaligned (safetensors headers of odd length); loops read with unaligned
/// loads, which cost nothing on x86-64 and arm64 and vectorise. F16 goes through
/// F16C instructions where the CPU has them (`CPUFeatures`, CVectorKernels), with the same bits.
public enum Conversion {
    /// Converts `source` (packed elements of `dtype`) into `destination`, which must hold
    /// exactly `source.count / (dtype.bitWidth / 8)` floats. `dtype` must be floating-point.
    public static func toFloat32(_ source: UnsafeRawBufferPointer, dtype: DType, into destination: UnsafeMutableBufferPointer<Float>) {
        let count = destination.count
        precondition(dtype.isFloatingPoint && source.count == count * (dtype.bitWidth / 8), "conversion size mismatch")
        guard count > 0, let src = source.baseAddress, let dst = destination.baseAddress else { return }
        switch dtype {
        case .f32:
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
        case .bf16:
            bf16ToFloat32(src, dst, count)
        case .f16 where CPUFeatures.f16c:
            crucible_f16_to_f32(src, dst, count)
        case .f16:
            for i in 0..<count {
                dst[i] = f16ToFloat32(src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
            }
        case .f64:
            for i in 0..<count {
                dst[i] = Float(src.loadUnaligned(fromByteOffset: i &* 8, as: Double.self))
            }
        case .f8E4M3, .f8E5M2, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ:
            let table = Float8Format(dtype)!.table
            table.withUnsafeBufferPointer { lookup in
                let bytes = src.assumingMemoryBound(to: UInt8.self)
                for i in 0..<count { dst[i] = lookup[Int(bytes[i])] }
            }
        default:
            preconditionFailure("\(dtype) is not a floating-point type")
        }
    }

    /// Converts `source` into packed elements of `dtype` (F16, BF16, F32 or F64) in
    /// `destination`, which must hold exactly `source.count * dtype.bitWidth / 8` bytes.
    public static func fromFloat32(_ source: UnsafeBufferPointer<Float>, to dtype: DType, into destination: UnsafeMutableRawBufferPointer) {
        let count = source.count
        precondition(dtype.isWritableFromFloat32 && destination.count == count * (dtype.bitWidth / 8), "conversion size mismatch")
        guard count > 0, let src = source.baseAddress, let dst = destination.baseAddress else { return }
        switch dtype {
        case .f32:
            dst.copyMemory(from: src, byteCount: count * 4)
        case .bf16:
            float32ToBF16(src, dst, count)
        case .f16 where CPUFeatures.f16c:
            crucible_f32_to_f16(src, dst, count)
        case .f16:
            for i in 0..<count {
                dst.storeBytes(of: float32ToF16(src[i]), toByteOffset: i &* 2, as: UInt16.self)
            }
        case .f64:
            for i in 0..<count {
                dst.storeBytes(of: Double(src[i]), toByteOffset: i &* 8, as: Double.self)
            }
        default:
            preconditionFailure("\(dtype) cannot be written from Float32")
        }
    }

    /// `value` rounded to `dtype` and back (BF16, F16; any other dtype leaves it as it is): what
    /// a torch tensor of that dtype holds after an operation that torch computes in Float32.
    @inline(__always)
    public static func rounded(_ value: Float, to dtype: DType) -> Float {
        switch dtype {
        case .bf16: return bf16ToFloat32(float32ToBF16(value))
        case .f16: return f16ToFloat32(float32ToF16(value))
        default: return value
        }
    }

    /// BF16 bits → Float32, exact.
    @inline(__always)
    public static func bf16ToFloat32(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// Float32 → BF16 bits, round to nearest even; NaN → 0x7FC0.
    @inline(__always)
    public static func float32ToBF16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let rounded = UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
        return (bits & 0x7FFF_FFFF) > 0x7F80_0000 ? 0x7FC0 : rounded
    }

    /// F16 bits → Float32, exact (as IEEE conversion: a NaN keeps its payload and is quiet), in integer
    /// and Float32 operations with selects instead of branches, so loops over it vectorise
    /// on any x86-64 or arm64 (no F16C needed).
    @inline(__always)
    public static func f16ToFloat32(_ bits: UInt16) -> Float {
        let h = UInt32(bits)
        let shifted = (h & 0x7FFF) << 13                   // exponent and mantissa in Float32's places
        let exponent = shifted & 0x0F80_0000
        let rebiased = shifted &+ ((127 - 15) << 23)
        // Inf and NaN: exponent all ones; a NaN comes out quiet (as the IEEE conversion does).
        let special = rebiased &+ ((128 - 16) << 23) | (h & 0x3FF == 0 ? 0 : 0x0040_0000)
        // Zero and subnormals: 2⁻¹⁴ · (1 + m/1024) − 2⁻¹⁴ = m · 2⁻²⁴, exactly.
        let subnormal = (Float(bitPattern: rebiased &+ (1 << 23)) - Float(bitPattern: 113 << 23)).bitPattern
        let magnitude = exponent == 0x0F80_0000 ? special : (exponent == 0 ? subnormal : rebiased)
        return Float(bitPattern: magnitude | ((h & 0x8000) << 16))
    }

    /// Float32 → F16 bits, round to nearest even, overflow to ±Inf, a NaN quiet with the top
    /// 9 bits of its payload (as IEEE conversion in compiler-rt); branch-free like `f16ToFloat32`.
    @inline(__always)
    public static func float32ToF16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let a = bits & 0x7FFF_FFFF
        // Results below 2⁻¹⁴ (subnormal or zero): adding 0.5 leaves the rounded F16 bits in the
        // low mantissa (the FPU rounds to nearest even).
        let half: UInt32 = 0x3F00_0000
        let subnormal = (Float(bitPattern: a) + Float(bitPattern: half)).bitPattern &- half
        // Normal results: rebias, then round to nearest even on the 13 bits dropped (a carry
        // into the exponent is right, up to Inf).
        let normal = (a &- ((127 - 15) << 23) &+ 0xFFF &+ ((a >> 13) & 1)) >> 13
        var result = a < (113 << 23) ? subnormal : normal
        result = a >= ((127 + 16) << 23) ? 0x7C00 : result
        result = a > 0x7F80_0000 ? 0x7E00 | ((a >> 13) & 0x1FF) : result
        return UInt16(truncatingIfNeeded: result | ((bits >> 16) & 0x8000))
    }

    private static func bf16ToFloat32(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            dst[i] = bf16ToFloat32(src.loadUnaligned(fromByteOffset: i &* 2, as: UInt16.self))
        }
    }

    private static func float32ToBF16(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, _ count: Int) {
        for i in 0..<count {
            dst.storeBytes(of: float32ToBF16(src[i]), toByteOffset: i &* 2, as: UInt16.self)
        }
    }
}

/// The 8-bit float formats, decoded through a 256-entry table built from their definitions
/// (OCP FP8 for E4M3/E5M2, OCP MX for E8M0, AMD's FNUZ variants).
struct Float8Format {
    let exponentBits: Int
    let mantissaBits: Int
    let bias: Int
    let kind: Kind

    enum Kind {
        /// E5M2: IEEE-like, top exponent holds Inf/NaN.
        case ieee
        /// E4M3FN: no Inf, only S.1111.111 is NaN.
        case finiteOnly
        /// FNUZ: no Inf, no negative zero, 0x80 is NaN.
        case fnuz
        /// E8M0: an unsigned power of two, 0xFF is NaN.
        case exponentOnly
    }

    init?(_ dtype: DType) {
        switch dtype {
        case .f8E4M3: self.init(exponentBits: 4, mantissaBits: 3, bias: 7, kind: .finiteOnly)
        case .f8E5M2: self.init(exponentBits: 5, mantissaBits: 2, bias: 15, kind: .ieee)
        case .f8E4M3FNUZ: self.init(exponentBits: 4, mantissaBits: 3, bias: 8, kind: .fnuz)
        case .f8E5M2FNUZ: self.init(exponentBits: 5, mantissaBits: 2, bias: 16, kind: .fnuz)
        case .f8E8M0: self.init(exponentBits: 8, mantissaBits: 0, bias: 127, kind: .exponentOnly)
        default: return nil
        }
    }

    private init(exponentBits: Int, mantissaBits: Int, bias: Int, kind: Kind) {
        self.exponentBits = exponentBits
        self.mantissaBits = mantissaBits
        self.bias = bias
        self.kind = kind
    }

    var table: [Float] { (0..<256).map { decode(UInt8($0)) } }

    func decode(_ byte: UInt8) -> Float {
        if kind == .exponentOnly {
            return byte == 0xFF ? .nan : Float(sign: .plus, exponent: Int(byte) - bias, significand: 1)
        }
        if kind == .fnuz && byte == 0x80 { return .nan }
        let negative = byte & 0x80 != 0
        let exponentField = Int(byte >> mantissaBits) & ((1 << exponentBits) - 1)
        let mantissa = Int(byte) & ((1 << mantissaBits) - 1)
        let maxExponent = (1 << exponentBits) - 1
        switch kind {
        case .ieee where exponentField == maxExponent:
            return mantissa == 0 ? (negative ? -.infinity : .infinity) : .nan
        case .finiteOnly where exponentField == maxExponent && mantissa == (1 << mantissaBits) - 1:
            return .nan
        default:
            break
        }
        let magnitude: Float
        if exponentField == 0 {
            magnitude = Float(mantissa) * Float(sign: .plus, exponent: 1 - bias - mantissaBits, significand: 1)
        } else {
            magnitude = Float(sign: .plus, exponent: exponentField - bias, significand: 1 + Float(mantissa) / Float(1 << mantissaBits))
        }
        return negative ? -magnitude : magnitude
    }
}
