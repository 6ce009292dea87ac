import CVectorKernels
import Testing
import TensorIO
import TestSupport

/// F32 → BF16 computed independently: keep the top 16 bits, round the dropped 16 bits to
/// nearest with ties to even (a carry may ripple into the exponent, giving ±Inf), NaN → 0x7FC0.
private func referenceBF16(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    let exponent = (bits >> 23) & 0xFF, mantissa = bits & 0x7F_FFFF
    if exponent == 0xFF && mantissa != 0 { return 0x7FC0 }
    var upper = bits >> 16
    let dropped = bits & 0xFFFF
    if dropped > 0x8000 || (dropped == 0x8000 && upper & 1 == 1) { upper += 1 }
    return UInt16(upper)
}

/// F16 bits → value computed from the IEEE binary16 definition.
private func referenceF16(_ bits: UInt16) -> Float {
    let sign: Float = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int(bits >> 10) & 0x1F, mantissa = Int(bits) & 0x3FF
    switch exponent {
    case 0: return sign * Float(mantissa) * 0x1p-24
    case 31: return mantissa == 0 ? sign * .infinity : .nan
    default: return sign * (1 + Float(mantissa) / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
    }
}

private func convertToFloat32(_ bytes: [UInt8], _ dtype: DType, unalignedBy shift: Int = 0) -> [Float] {
    let count = bytes.count * 8 / dtype.bitWidth
    let padded = [UInt8](repeating: 0xAA, count: shift) + bytes
    return padded.withUnsafeBytes { raw in
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            Conversion.toFloat32(UnsafeRawBufferPointer(rebasing: raw[shift...]), dtype: dtype, into: buffer)
            initialized = count
        }
    }
}

private func convertFromFloat32(_ values: [Float], _ dtype: DType, unalignedBy shift: Int = 0) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: shift + values.count * dtype.bitWidth / 8)
    values.withUnsafeBufferPointer { source in
        out.withUnsafeMutableBytes { Conversion.fromFloat32(source, to: dtype, into: UnsafeMutableRawBufferPointer(rebasing: $0[shift...])) }
    }
    return Array(out[shift...])
}

private func u16s(_ bytes: [UInt8]) -> [UInt16] { stride(from: 0, to: bytes.count, by: 2).map { UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8 } }
private func bytes(_ values: [UInt16]) -> [UInt8] { values.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8($0 >> 8)] } }

/// Bit patterns that stress rounding: ties either way, values just off a tie, the largest
/// finite values, subnormals, zeros, infinities and NaNs (quiet, signalling, negative).
private let trickyFloat32Bits: [UInt32] = [
    0x3F80_0000, 0x3F80_8000, 0x3F81_8000, 0x3F80_8001, 0x3F80_7FFF, 0x3F81_7FFF, 0xBF80_8000, 0xBF81_8000,
    0x7F7F_FFFF, 0x7F7F_7FFF, 0x7F7F_8000, 0x7F7E_8000, 0xFF7F_FFFF, 0xFF7F_8000,
    0x0000_0001, 0x0000_8000, 0x0001_8000, 0x0000_C000, 0x007F_FFFF, 0x007F_8000, 0x0080_0000, 0x8000_8001,
    0x0000_0000, 0x8000_0000, 0x7F80_0000, 0xFF80_0000,
    0x7FC0_0000, 0x7F80_0001, 0x7FBF_FFFF, 0xFFC0_0000, 0xFFFF_FFFF, 0x7FFF_FFFF, 0x7F81_0000,
    0x4049_0FDB, 0x3EAA_AAAB, 0x4780_0000, 0x3380_0000,
]

/// E4M3 (OCP FP8, "FN": bias 7, no infinity) bytes and their values.
private let e4m3Known: [(UInt8, Float)] = [
    (0x38, 1.0), (0x7E, 448), (0xFE, -448), (0x01, 0x1p-9), (0x07, 7 * 0x1p-9), (0x08, 0x1p-6),
    (0x00, 0), (0xB8, -1), (0x40, 2), (0x3C, 1.5), (0x77, 240),
]

@Suite("Conversions between stored dtypes and Float32")
struct ConversionTests {
    @Test("F32 → BF16 rounds to nearest even, overflows to Inf and turns every NaN into 0x7FC0", arguments: trickyFloat32Bits)
    func float32ToBF16Tricky(bits: UInt32) {
        let value = Float(bitPattern: bits)
        #expect(Conversion.float32ToBF16(value) == referenceBF16(value))
        #expect(u16s(convertFromFloat32([value], .bf16)) == [referenceBF16(value)])
    }

    @Test("F32 → BF16 anchors: 1.0, a tie to even, the largest finite value, NaN")
    func float32ToBF16Anchors() {
        #expect(Conversion.float32ToBF16(1.0) == 0x3F80)
        #expect(Conversion.float32ToBF16(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie, stays even
        #expect(Conversion.float32ToBF16(Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie, rounds up to even
        #expect(Conversion.float32ToBF16(.greatestFiniteMagnitude) == 0x7F80)       // overflows to +Inf
        #expect(Conversion.float32ToBF16(-.greatestFiniteMagnitude) == 0xFF80)
        #expect(Conversion.float32ToBF16(.nan) == 0x7FC0)
        #expect(Conversion.float32ToBF16(-Float.signalingNaN) == 0x7FC0)
    }

    @Test("F32 → BF16 agrees with the integer reference on 200 000 random bit patterns, aligned and not")
    func float32ToBF16Random() {
        var rng = SplitMix64(seed: 0xBF16)
        let values = (0..<200_000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        let expected = values.map(referenceBF16)
        #expect(u16s(convertFromFloat32(values, .bf16)) == expected)
        #expect(u16s(convertFromFloat32(values, .bf16, unalignedBy: 1)) == expected)
    }

    @Test("BF16 → F32 → BF16 is the identity on all 65 536 patterns, NaNs becoming 0x7FC0")
    func bf16SweepRoundTrip() {
        let all = (0...UInt16.max).map { $0 }
        let floats = convertToFloat32(bytes(all), .bf16, unalignedBy: 3)
        var mismatches: [UInt16] = []
        for (pattern, value) in zip(all, floats) {
            if value.bitPattern != UInt32(pattern) << 16 { mismatches.append(pattern) }
            let isNaN = pattern & 0x7F80 == 0x7F80 && pattern & 0x7F != 0
            let back = Conversion.float32ToBF16(value)
            if back != (isNaN ? 0x7FC0 : pattern) { mismatches.append(pattern) }
            if Conversion.bf16ToFloat32(pattern).bitPattern != UInt32(pattern) << 16 { mismatches.append(pattern) }
        }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(8).map { String($0, radix: 16) })")
        let backBulk = u16s(convertFromFloat32(floats, .bf16))
        #expect(backBulk == all.map { $0 & 0x7F80 == 0x7F80 && $0 & 0x7F != 0 ? 0x7FC0 : $0 })
    }

    @Test("F16 → F32 matches the binary16 definition and Swift's Float16 on all 65 536 patterns")
    func f16Sweep() {
        let all = (0...UInt16.max).map { $0 }
        let floats = convertToFloat32(bytes(all), .f16, unalignedBy: 1)
        var mismatches: [UInt16] = []
        for (pattern, value) in zip(all, floats) {
            let reference = referenceF16(pattern)
            let swift = Float(Float16(bitPattern: pattern))
            if reference.isNaN {
                if !value.isNaN || !swift.isNaN { mismatches.append(pattern) }
            } else if value.bitPattern != reference.bitPattern || swift.bitPattern != reference.bitPattern {
                mismatches.append(pattern)
            }
        }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(8).map { String($0, radix: 16) })")
    }

    @Test("F32 → F16 rounds like Swift's Float16 and hits the IEEE anchors")
    func float32ToF16() {
        var rng = SplitMix64(seed: 0xF16)
        var values = trickyFloat32Bits.map { Float(bitPattern: $0) }
        values += (0..<100_000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        values += (0..<100_000).map { _ in Float.random(in: -70_000...70_000, using: &rng) }
        values += (0..<10_000).map { _ in Float.random(in: -1e-4...1e-4, using: &rng) }
        let got = u16s(convertFromFloat32(values, .f16, unalignedBy: 1))
        var mismatches: [Float] = []
        for (value, bits) in zip(values, got) {
            let expected = Float16(value)
            if expected.isNaN ? !Float16(bitPattern: bits).isNaN : bits != expected.bitPattern { mismatches.append(value) }
        }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(8))")

        let anchors: [(Float, UInt16)] = [
            (1, 0x3C00), (65504, 0x7BFF), (65519, 0x7BFF), (65520, 0x7C00), (-1e6, 0xFC00),
            (0x1p-24, 0x0001), (0x1p-25, 0x0000), (0x1.8p-25, 0x0001), (0x1p-14, 0x0400), (1.0 / 3.0, 0x3555), (-0.0, 0x8000),
        ]
        #expect(u16s(convertFromFloat32(anchors.map(\.0), .f16)) == anchors.map(\.1))
        #expect(Float16(bitPattern: u16s(convertFromFloat32([.nan], .f16))[0]).isNaN)
    }

    @Test("F32 → F16 and F16 → F32 (branch-free) equal Swift's Float16 bit for bit, NaN payloads included, at every rounding boundary")
    func f16BitExactAtEveryBoundary() {
        // Every sign, exponent and kept mantissa (the top 19 bits), with the 13 dropped bits
        // just below, at and above the halfway point, and at their ends.
        let dropped: [UInt32] = [0, 1, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x0800]
        var mismatches: [UInt32] = []
        for top in 0..<(UInt32(1) << 19) {
            for low in dropped {
                let bits = top << 13 | low
                if Conversion.float32ToF16(Float(bitPattern: bits)) != Float16(Float(bitPattern: bits)).bitPattern { mismatches.append(bits) }
            }
        }
        #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(8).map { String($0, radix: 16) })")
        let back = (0...UInt16.max).filter { Conversion.f16ToFloat32($0).bitPattern != Float(Float16(bitPattern: $0)).bitPattern }
        #expect(back.isEmpty, "first mismatches: \(back.prefix(8).map { String($0, radix: 16) })")
    }

    @Test("the F16C path (used where the CPU has F16C) gives the baseline's bits: all F16 patterns, every F32 rounding boundary",
          .enabled(if: CPUFeatures.f16c, "this CPU has no F16C"))
    func f16cPathMatchesTheBaseline() {
        let all = (0...UInt16.max).map { $0 }
        var floats = [Float](repeating: 0, count: all.count)
        all.withUnsafeBytes { crucible_f16_to_f32($0.baseAddress!, &floats, all.count) }
        let back = all.indices.filter { floats[$0].bitPattern != Conversion.f16ToFloat32(all[$0]).bitPattern }
        #expect(back.isEmpty, "first mismatches: \(back.prefix(8).map { String(all[$0], radix: 16) })")

        let dropped: [UInt32] = [0, 1, 0x0FFF, 0x1000, 0x1001, 0x1FFF, 0x0800]
        let values = (0..<(UInt32(1) << 19)).flatMap { top in dropped.map { Float(bitPattern: top << 13 | $0) } }
        var halves = [UInt16](repeating: 0, count: values.count)
        halves.withUnsafeMutableBytes { crucible_f32_to_f16(values, $0.baseAddress!, values.count) }
        let forth = values.indices.filter { halves[$0] != Conversion.float32ToF16(values[$0]) }
        #expect(forth.isEmpty, "first mismatches: \(forth.prefix(8).map { String(values[$0].bitPattern, radix: 16) })")
    }

    @Test("F64 → F32 rounds to nearest even, overflows to Inf and underflows through subnormals")
    func float64ToFloat32() {
        let cases: [(Double, UInt32)] = [
            (1 + 0x1p-24, 0x3F80_0000),              // tie → even (down)
            (1 + 0x1p-24 + 0x1p-40, 0x3F80_0001),    // just above the tie
            (1 + 3 * 0x1p-24, 0x3F80_0002),          // tie → even (up)
            (-(1 + 3 * 0x1p-24), 0xBF80_0002),
            (1e39, 0x7F80_0000), (-.greatestFiniteMagnitude, 0xFF80_0000),
            (0x1p-149, 0x0000_0001), (0x1p-150, 0x0000_0000), (0x1.8p-150, 0x0000_0001), (1e-50, 0x0000_0000),
            (-0.0, 0x8000_0000), (.infinity, 0x7F80_0000), (0.1, 0x3DCC_CCCD),
            (Double(Float.greatestFiniteMagnitude), 0x7F7F_FFFF),
        ]
        let got = convertToFloat32(float64Bytes(cases.map(\.0)), .f64, unalignedBy: 5)
        #expect(got.map(\.bitPattern) == cases.map(\.1))
        #expect(convertToFloat32(float64Bytes([.nan]), .f64)[0].isNaN)
        #expect(convertFromFloat32([0.1, -3.5], .f64) == float64Bytes([Double(Float(0.1)), -3.5]))
    }

    @Test("F8_E4M3 decodes known values", arguments: e4m3Known)
    func e4m3KnownValues(byte: UInt8, expected: Float) {
        #expect(convertToFloat32([byte], .f8E4M3) == [expected])
    }

    @Test("F8_E4M3 has no infinity: only S.1111.111 is NaN")
    func e4m3NaN() {
        let values = convertToFloat32((0...255).map { UInt8($0) }, .f8E4M3)
        #expect(values.enumerated().filter { $0.element.isNaN }.map(\.offset) == [0x7F, 0xFF])
        #expect(!values.contains { $0.isInfinite })
        #expect(convertToFloat32([0x80], .f8E4M3)[0].bitPattern == 0x8000_0000)
    }

    @Test("F8_E5M2 decodes like the top byte of an F16, on all 256 patterns")
    func e5m2MatchesF16() {
        let values = convertToFloat32((0...255).map { UInt8($0) }, .f8E5M2)
        for (byte, value) in values.enumerated() {
            let reference = referenceF16(UInt16(byte) << 8)
            #expect(reference.isNaN ? value.isNaN : value.bitPattern == reference.bitPattern, "byte \(byte)")
        }
        #expect(convertToFloat32([0x3C, 0x7C, 0xFC, 0x7B, 0x01, 0x04], .f8E5M2) == [1, .infinity, -.infinity, 57344, 0x1p-16, 0x1p-14])
        #expect(convertToFloat32([0x7D], .f8E5M2)[0].isNaN)
    }

    @Test("FNUZ and E8M0 formats decode known values")
    func fnuzAndE8M0() {
        #expect(convertToFloat32([0x40, 0x7F, 0x00, 0xC0, 0x01], .f8E4M3FNUZ) == [1, 240, 0, -1, 0x1p-10])
        #expect(convertToFloat32([0x80], .f8E4M3FNUZ)[0].isNaN)
        #expect(convertToFloat32([0x40, 0x7F, 0x00, 0xC0, 0x01], .f8E5M2FNUZ) == [1, 57344, 0, -1, 0x1p-17])
        #expect(convertToFloat32([0x80], .f8E5M2FNUZ)[0].isNaN)
        #expect(!convertToFloat32((0...255).map { UInt8($0) }, .f8E5M2FNUZ).contains { $0.isInfinite })
        #expect(convertToFloat32([127, 128, 0, 254], .f8E8M0) == [1, 2, 0x1p-127, 0x1p127])
        #expect(convertToFloat32([0xFF], .f8E8M0)[0].isNaN)
    }

    @Test("F32 → F32 copies bits exactly, NaN payloads included")
    func float32Copy() {
        let bits = trickyFloat32Bits
        let raw = bits.flatMap { b in (0..<4).map { UInt8(truncatingIfNeeded: b >> (8 * UInt32($0))) } }
        #expect(convertToFloat32(raw, .f32, unalignedBy: 2).map(\.bitPattern) == bits)
        #expect(convertFromFloat32(bits.map { Float(bitPattern: $0) }, .f32, unalignedBy: 3) == raw)
    }

    @Test("only F16, BF16, F32 and F64 are writable from Float32; integer types are not floating-point")
    func dtypeCapabilities() {
        #expect(Set(DType.allCases.filter(\.isWritableFromFloat32)) == [.f16, .bf16, .f32, .f64])
        for dtype in [DType.bool, .u8, .i8, .i16, .u16, .i32, .u32, .i64, .u64, .c64, .f4, .f6E2M3, .f6E3M2] {
            #expect(!dtype.isFloatingPoint, "\(dtype)")
        }
        #expect(DType(torchName: "bfloat16") == .bf16 && DType(torchName: "HALF") == .f16 && DType(torchName: "int8") == nil)
        #expect(DType.bf16.torchName == "bfloat16")
    }
}
