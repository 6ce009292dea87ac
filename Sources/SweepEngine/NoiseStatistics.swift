/// What the noise did to one variant's perturbed tensors, measured on the values actually
/// written (after rounding to the output dtype). Tasks send one record per variant; the sweep
/// adds them up over tensors.
///
/// Record layout (`size` = 40 bytes per variant, little-endian, variants in the task's part order):
///
/// | offset | type    | field |
/// |--------|---------|-------|
/// | 0      | Float64 | Σ (W' − W)², W' as written |
/// | 8      | Float64 | Σ W² |
/// | 16     | Float64 | Σ (σ·s·ε)², the noise asked for before rounding |
/// | 24     | UInt64  | elements perturbed |
/// | 32     | UInt64  | elements left unchanged by rounding although their noise was not 0 |
public struct NoiseStatistics: Sendable, Equatable, Codable {
    public static let size = 40

    public var noiseSquares: Double = 0
    public var weightSquares: Double = 0
    public var intendedSquares: Double = 0
    public var elements: UInt64 = 0
    public var unchanged: UInt64 = 0

    public init() {}

    public init(noiseSquares: Double, weightSquares: Double, intendedSquares: Double, elements: UInt64, unchanged: UInt64) {
        self.noiseSquares = noiseSquares
        self.weightSquares = weightSquares
        self.intendedSquares = intendedSquares
        self.elements = elements
        self.unchanged = unchanged
    }

    /// Realised ‖W' − W‖ / ‖W‖; nil when nothing (or only zeros) was perturbed.
    public var relativeNoise: Double? { weightSquares > 0 ? (noiseSquares / weightSquares).squareRoot() : nil }
    /// The relative noise asked for, before rounding.
    public var intendedRelativeNoise: Double? { weightSquares > 0 ? (intendedSquares / weightSquares).squareRoot() : nil }
    /// Share of perturbed elements whose written value is the input's although noise was drawn.
    public var unchangedFraction: Double { elements > 0 ? Double(unchanged) / Double(elements) : 0 }

    public static func += (a: inout NoiseStatistics, b: NoiseStatistics) {
        a.noiseSquares += b.noiseSquares
        a.weightSquares += b.weightSquares
        a.intendedSquares += b.intendedSquares
        a.elements += b.elements
        a.unchanged += b.unchanged
    }

    /// Writes this record at `offset` of `bytes`.
    public func store(into bytes: UnsafeMutableRawBufferPointer, at offset: Int) {
        bytes.storeBytes(of: noiseSquares.bitPattern.littleEndian, toByteOffset: offset, as: UInt64.self)
        bytes.storeBytes(of: weightSquares.bitPattern.littleEndian, toByteOffset: offset + 8, as: UInt64.self)
        bytes.storeBytes(of: intendedSquares.bitPattern.littleEndian, toByteOffset: offset + 16, as: UInt64.self)
        bytes.storeBytes(of: elements.littleEndian, toByteOffset: offset + 24, as: UInt64.self)
        bytes.storeBytes(of: unchanged.littleEndian, toByteOffset: offset + 32, as: UInt64.self)
    }

    /// Reads the record at `offset` of `bytes`.
    public init(loading bytes: UnsafeRawBufferPointer, at offset: Int) {
        func word(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + at, as: UInt64.self)) }
        self.init(noiseSquares: Double(bitPattern: word(0)), weightSquares: Double(bitPattern: word(8)),
                  intendedSquares: Double(bitPattern: word(16)), elements: word(24), unchanged: word(32))
    }

    /// The records of a task with `count` variants.
    public static func decode(_ record: [UInt8], count: Int) -> [NoiseStatistics]? {
        guard record.count == count * size else { return nil }
        return record.withUnsafeBytes { raw in (0..<count).map { NoiseStatistics(loading: raw, at: $0 * size) } }
    }
}
