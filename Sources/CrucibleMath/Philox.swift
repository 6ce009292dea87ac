import CVectorKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011):
/// a counter-based generator. Output block `i` depends only on the key and the counter `i`,
/// never on what was drawn before, so any element of any tensor can be drawn independently
/// by any thread or worker and the result is the same.
///
/// Crucible's convention: the key is derived from (seed, model index, tensor name) by
/// `Philox.key(seed:stream:name:)`; the counter is the element index (four 32-bit words per
/// block, so block `i` covers elements `4i ..< 4i+4`).
public struct Philox: Sendable, Equatable {
    public let key: (UInt32, UInt32)

    public init(key: (UInt32, UInt32)) { self.key = key }

    public static func == (a: Philox, b: Philox) -> Bool { a.key == b.key }

    /// A key from a seed, a stream number (the model's index) and a tensor name, mixed with
    /// SplitMix64 over the name's FNV-1a hash so that nearby inputs give unrelated keys.
    public init(seed: UInt64, stream: UInt64, name: String) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        let mixed = Philox.splitMix(Philox.splitMix(seed ^ Philox.splitMix(stream &+ 0x9E37_79B9_7F4A_7C15)) ^ h)
        key = (UInt32(truncatingIfNeeded: mixed), UInt32(truncatingIfNeeded: mixed >> 32))
    }

    @inline(__always)
    static func splitMix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The four 32-bit words of block `counter` (a 128-bit counter given as two 64-bit halves).
    @inlinable @inline(__always)
    public func block(_ counter: UInt64, high: UInt64 = 0) -> SIMD4<UInt32> {
        var c0 = UInt32(truncatingIfNeeded: counter)
        var c1 = UInt32(truncatingIfNeeded: counter >> 32)
        var c2 = UInt32(truncatingIfNeeded: high)
        var c3 = UInt32(truncatingIfNeeded: high >> 32)
        var k0 = key.0
        var k1 = key.1
        for _ in 0..<10 {
            let p0 = UInt64(0xD251_1F53) &* UInt64(c0)
            let p1 = UInt64(0xCD9E_8D57) &* UInt64(c2)
            let hi0 = UInt32(truncatingIfNeeded: p0 >> 32), lo0 = UInt32(truncatingIfNeeded: p0)
            let hi1 = UInt32(truncatingIfNeeded: p1 >> 32), lo1 = UInt32(truncatingIfNeeded: p1)
            (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
            k0 &+= 0x9E37_79B9
            k1 &+= 0xBB67_AE85
        }
        return SIMD4(c0, c1, c2, c3)
    }

    /// Blocks `first ..< first + 8` (at counter high word `high`) into `words`, word by word:
    /// `words[8 · j + lane]` is word j of block `first + lane`. A plain loop over the lanes,
    /// which the compiler vectorises; each lane is `block(first + lane, high:)`.
    @inline(__always)
    func blocks8(_ first: UInt64, high: UInt64 = 0, into words: UnsafeMutablePointer<UInt32>) {
        for lane in 0..<8 {
            let block = self.block(first &+ UInt64(lane), high: high)
            words[lane] = block[0]
            words[8 + lane] = block[1]
            words[16 + lane] = block[2]
            words[24 + lane] = block[3]
        }
    }

    /// A uniform Float in [0, 1) from 24 random bits.
    @inlinable @inline(__always)
    public static func unitFloat(_ word: UInt32) -> Float { Float(word >> 8) * 0x1p-24 }

    /// The uniform [0, 1) draw of one element: word `e mod 4` of block `e / 4`.
    @inlinable @inline(__always)
    public func uniform(element: Int) -> Float {
        Philox.unitFloat(block(UInt64(element >> 2))[element & 3])
    }

    /// Fills `destination` with the uniform draws of elements `first ..< first + count`
    /// (the same values as `uniform(element:)`, one block per four elements).
    public func uniform(first: Int, into destination: UnsafeMutableBufferPointer<Float>) {
        let count = destination.count
        var i = 0
        while i < count && (first + i) & 3 != 0 {
            destination[i] = uniform(element: first + i)
            i += 1
        }
        while i + 4 <= count {
            let words = block(UInt64((first + i) >> 2))
            destination[i] = Philox.unitFloat(words[0])
            destination[i + 1] = Philox.unitFloat(words[1])
            destination[i + 2] = Philox.unitFloat(words[2])
            destination[i + 3] = Philox.unitFloat(words[3])
            i += 4
        }
        while i < count {
            destination[i] = uniform(element: first + i)
            i += 1
        }
    }

    /// The 16-bit uniform draw of one element: half `e mod 2` of word `(e / 2) mod 4` of
    /// block `e / 8` (eight draws per block).
    @inlinable @inline(__always)
    public func draw16(element: Int) -> UInt16 {
        UInt16(truncatingIfNeeded: block(UInt64(element >> 3))[(element >> 1) & 3] >> UInt32((element & 1) * 16))
    }

    /// Fills `destination` with the 16-bit draws of elements `first ..< first + count` (the same
    /// values as `draw16(element:)`, one block per eight elements).
    public func draws16(first: Int, into destination: UnsafeMutableBufferPointer<UInt16>) {
        let count = destination.count
        var i = 0
        while i < count && (first + i) & 7 != 0 {
            destination[i] = draw16(element: first + i)
            i += 1
        }
        // Eight blocks at a time in AVX2 where the CPU has it: a block's words, stored little
        // endian, are its eight draws in order.
        if crucible_use_avx2() != 0 && i + 64 <= count {
            let blocks = (count - i) / 64 * 8
            crucible_philox_blocks_avx2(key.0, key.1, UInt64((first + i) >> 3), blocks, destination.baseAddress! + i)
            i += blocks * 8
        }
        // Otherwise eight at a time in a plain loop over the lanes, which the compiler vectorises.
        if i + 64 <= count {
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 32) { words in
                let w = words.baseAddress!
                while i + 64 <= count {
                    blocks8(UInt64((first + i) >> 3), into: w)
                    for lane in 0..<8 {
                        for word in 0..<4 {
                            let value = w[8 * word + lane]
                            destination[i + 8 * lane + 2 * word] = UInt16(truncatingIfNeeded: value)
                            destination[i + 8 * lane + 2 * word + 1] = UInt16(truncatingIfNeeded: value >> 16)
                        }
                    }
                    i += 64
                }
            }
        }
        while i + 8 <= count {
            let words = block(UInt64((first + i) >> 3))
            for w in 0..<4 {
                destination[i + 2 * w] = UInt16(truncatingIfNeeded: words[w])
                destination[i + 2 * w + 1] = UInt16(truncatingIfNeeded: words[w] >> 16)
            }
            i += 8
        }
        while i < count {
            destination[i] = draw16(element: first + i)
            i += 1
        }
    }

    /// Fills `destination` with standard normal values for elements `first ..< first + count`
    /// (the same values as `normal(element:)`, one block per two elements). Element `e` uses
    /// block `e / 2` of the stream at `high = 1`, so it is the same however the range is split.
    public func normal(first: Int, into destination: UnsafeMutableBufferPointer<Float>) {
        let count = destination.count
        var i = 0
        if count > 0 && first & 1 != 0 {
            destination[0] = normal(element: first)
            i = 1
        }
        while i + 2 <= count {
            let words = block(UInt64((first + i) >> 1), high: 1)
            destination[i] = Philox.boxMuller(words[0], words[1])
            destination[i + 1] = Philox.boxMuller(words[2], words[3])
            i += 2
        }
        if i < count { destination[i] = normal(element: first + i) }
    }

    /// The standard normal draw for one element (Box-Muller in Double, exact for any split):
    /// words 0 and 1 of block `e / 2` for an even `e`, words 2 and 3 for an odd one.
    @inlinable @inline(__always)
    public func normal(element: Int) -> Float {
        let words = block(UInt64(element >> 1), high: 1)
        return element & 1 == 0 ? Philox.boxMuller(words[0], words[1]) : Philox.boxMuller(words[2], words[3])
    }

    /// One Box-Muller normal from two 32-bit words: u1 in (0, 1], u2 in [0, 1).
    @inlinable @inline(__always)
    static func boxMuller(_ a: UInt32, _ b: UInt32) -> Float {
        let u1 = (Double(a) + 1) * 0x1p-32
        let u2 = Double(b) * 0x1p-32
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }
}

@usableFromInline @inline(__always) func _log(_ x: Double) -> Double { log(x) }
@usableFromInline @inline(__always) func _cos(_ x: Double) -> Double { cos(x) }
