/// Fast standard normal draws from `Philox`, for bulk noise (sweep variants): Box–Muller in
/// Float32 with Crucible's own log, sine and cosine polynomials, both values of each pair kept
/// (four normals per Philox block), written as plain loops over eight blocks that the
/// compiler turns into vector code.
///
/// The definition, element by element (so that a worker or thread can draw any range): the
/// elements come in groups of 32; element `e` is in group `g = e / 32` at `j = e mod 32`, and
/// takes value `j / 8` of block `8g + (j mod 8)` of the stream at `high = 2`. A block's words
/// `(a, b)` = words 0 and 1 give values 0 (`r cos θ`) and 1 (`r sin θ`); words 2 and 3 give
/// values 2 and 3 alike. With `one(x) = Float(bits: 0x3F800000 | x)` (1 + x · 2⁻²³):
/// `u = 2 − one(a >> 9) ∈ (0, 1]`, `r = √(−2 ln u)`; `q = b >> 30` (the quadrant) and
/// `x = (one((b >> 7) & 0x7FFFFC) − 1) · (π/2)`, `θ = q · π/2 + x`. `ln u = e · ln 2 +
/// 2 atanh((m − 1)/(m + 1))` with `u = m · 2ᵉ`, `m ∈ [√½, √2)`, the series to the 9th power;
/// sine and cosine of `x` by their Taylor series to the 11th and 12th powers. Only correctly
/// rounded IEEE operations (+, −, ×, ÷, √), none fused, so the bits are the same on every
/// machine and for any split of the range.
extension Philox {
    /// Elements one group holds (8 blocks of 4).
    public static let normalGroup = 32

    /// Fills `destination` with the normal draws of elements `first ..< first + count`.
    public func normals(first: Int, into destination: UnsafeMutableBufferPointer<Float>) {
        let count = destination.count
        guard count > 0, let out = destination.baseAddress else { return }
        let n = Philox.normalGroup
        withUnsafeTemporaryAllocation(of: Float.self, capacity: n) { scratch in
            let partial = scratch.baseAddress!
            var done = 0
            while done < count {
                let element = first + done
                let skip = element % n, take = min(n - skip, count - done)
                if take == n {
                    normalGroup(element / n, into: out + done)
                } else {
                    normalGroup(element / n, into: partial)
                    (out + done).update(from: partial + skip, count: take)
                }
                done += take
            }
        }
    }

    /// The normal draw of one element (the same value as `normals` gives it).
    public func normalDraw(element: Int) -> Float {
        var value: Float = 0
        withUnsafeMutablePointer(to: &value) { normals(first: element, into: UnsafeMutableBufferPointer(start: $0, count: 1)) }
        return value
    }

    /// The 32 values of group `group` into `out`.
    @inline(__always)
    func normalGroup(_ group: Int, into out: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 32) { words in
            let w = words.baseAddress!
            blocks8(UInt64(group) &* 8, high: 2, into: w)
            let raw = UnsafeRawPointer(w), to = UnsafeMutableRawPointer(out)
            let (z0, z1) = Philox.boxMuller(raw.loadUnaligned(as: SIMD8<UInt32>.self), raw.loadUnaligned(fromByteOffset: 32, as: SIMD8<UInt32>.self))
            let (z2, z3) = Philox.boxMuller(raw.loadUnaligned(fromByteOffset: 64, as: SIMD8<UInt32>.self),
                                            raw.loadUnaligned(fromByteOffset: 96, as: SIMD8<UInt32>.self))
            to.storeBytes(of: z0, as: SIMD8<Float>.self)
            to.storeBytes(of: z1, toByteOffset: 32, as: SIMD8<Float>.self)
            to.storeBytes(of: z2, toByteOffset: 64, as: SIMD8<Float>.self)
            to.storeBytes(of: z3, toByteOffset: 96, as: SIMD8<Float>.self)
        }
    }

    typealias Floats8 = SIMD8<Float>
    typealias Words8 = SIMD8<UInt32>

    /// `one(x)` of the definition: 1 + x · 2⁻²³ for x < 2²³, by its bits.
    @inline(__always)
    static func one(_ x: Words8) -> Floats8 { unsafeBitCast(x | 0x3F80_0000, to: Floats8.self) }

    /// `(r cos θ, r sin θ)` of each lane's words `(a, b)` (see the type's definition), with
    /// integer masks for the choices so that every lane runs the same instructions.
    @inline(__always)
    static func boxMuller(_ a: Words8, _ b: Words8) -> (Floats8, Floats8) {
        let u = 2 - one(a &>> 9)
        let r = (-2 * log(u)).squareRoot()
        let quadrant = b &>> 30
        let x = (one((b &>> 7) & 0x7F_FFFC) - 1) * (Float.pi / 2)
        let x2 = x * x
        var s = Floats8(repeating: -1 / 39_916_800)
        s = s * x2 + 1 / 362_880
        s = s * x2 - 1 / 5040
        s = s * x2 + 1 / 120
        s = s * x2 - 1 / 6
        s = (s * x2 + 1) * x
        var c = Floats8(repeating: 1 / 479_001_600)
        c = c * x2 - 1 / 3_628_800
        c = c * x2 + 1 / 40320
        c = c * x2 - 1 / 720
        c = c * x2 + 1 / 24
        c = c * x2 - 1 / 2
        c = c * x2 + 1
        // θ = quadrant · π/2 + x: (cos θ, sin θ) = (c, s), (−s, c), (−c, −s), (s, −c).
        let odd = 0 &- (quadrant & 1)
        let cBits = unsafeBitCast(c, to: Words8.self), sBits = unsafeBitCast(s, to: Words8.self)
        let cosine = (cBits & ~odd) | (sBits & odd), sine = (sBits & ~odd) | (cBits & odd)
        let cosSign = ((quadrant &+ 1) & 2) &<< 30, sinSign = (quadrant & 2) &<< 30
        return (r * unsafeBitCast(cosine ^ cosSign, to: Floats8.self), r * unsafeBitCast(sine ^ sinSign, to: Floats8.self))
    }

    /// ln u for normal, positive u: e · ln 2 + 2 atanh((m − 1)/(m + 1)), m in [√½, √2).
    @inline(__always)
    static func log(_ u: Floats8) -> Floats8 {
        let bits = unsafeBitCast(u, to: Words8.self)
        let mantissa = bits & 0x7F_FFFF
        let high = (mantissa &+ (0x80_0000 - 0x35_04F4)) &>> 23        // 1 when m > √2 (as Float32)
        let m = unsafeBitCast(mantissa | (0x3F80_0000 &- (high &<< 23)), to: Floats8.self)
        // e + 128 (small and positive) as a Float, exactly, by its bits.
        let biased = (bits &>> 23) &+ high &+ 1
        let exponent = unsafeBitCast(biased | 0x4B00_0000, to: Floats8.self) - (8_388_608 + 128)
        let t = (m - 1) / (m + 1)
        let t2 = t * t
        var p = Floats8(repeating: 1 / 9)
        p = p * t2 + 1 / 7
        p = p * t2 + 1 / 5
        p = p * t2 + 1 / 3
        p = p * t2 + 1
        return exponent * 0.693_147_2 + 2 * t * p
    }
}
