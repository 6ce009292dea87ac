/// Grouped-query causal attention of one head over one window, in fixed blocks of query rows:
/// scores = scale · Q Kᵀ (soft-capped for Gemma 2), masked to the keys a query may see (causal,
/// and the sliding window when the layer has one), softmax in Float32, then · V.
enum Attention {
    /// Query rows per block (fixed: the results never depend on the thread count).
    static let blockRows = 64

    /// Scratch floats one call needs for a window of `length` tokens.
    static func scratchCount(length: Int) -> Int { blockRows * length }

    /// - Parameters:
    ///   - qkv: the window's projections, `length` rows of `ld` floats (q heads, k heads, v heads).
    ///   - head: the query head; its key/value head is `head / (heads / kvHeads)`.
    ///   - out: `length` rows of `ldOut` floats; this head's `headDim` columns are written.
    static func head(_ head: Int, qkv: UnsafePointer<Float>, ld: Int, length: Int, architecture a: Architecture, window: Int?,
                     out: UnsafeMutablePointer<Float>, ldOut: Int, scratch: UnsafeMutablePointer<Float>) {
        let hd = a.headDim
        let group = a.headCount / a.kvHeadCount
        let kvHead = head / group
        let q = qkv + head * hd
        let k = qkv + (a.headCount + kvHead) * hd
        let v = qkv + (a.headCount + a.kvHeadCount + kvHead) * hd
        var r0 = 0
        while r0 < length {
            let r1 = min(r0 + blockRows, length)
            let c0 = window.map { max(0, r0 - $0 + 1) } ?? 0
            let width = r1 - c0
            // scores[r - r0][c - c0] for c in c0..<r1
            BLAS.matmulTransposed(m: r1 - r0, n: width, k: hd, alpha: a.attentionScale, a: q + r0 * ld, lda: ld,
                                  b: k + c0 * ld, ldb: ld, c: scratch, ldc: width)
            for r in r0..<r1 {
                let row = scratch + (r - r0) * width
                let first = window.map { max(0, r - $0 + 1) } ?? 0   // keys first...r are visible
                if let cap = a.attentionSoftcap {
                    for c in first...r { row[c - c0] = Kernels.softcap(row[c - c0], cap) }
                }
                for c in c0..<first { row[c - c0] = 0 }
                Kernels.softmax(row + (first - c0), r - first + 1)
                for c in (r + 1)..<r1 { row[c - c0] = 0 }
            }
            BLAS.matmul(m: r1 - r0, n: hd, k: width, a: scratch, lda: width, b: v + c0 * ld, ldb: ld,
                        c: out + r0 * ldOut + head * hd, ldc: ldOut)
            r0 = r1
        }
    }
}
