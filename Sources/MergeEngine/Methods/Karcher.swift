#if canImport(Glibc)
import Glibc
#endif

/// The Karcher (Riemannian) mean of the models' directions on the unit sphere, with equal
/// weights, scaled by the mean norm. Flattened over the whole tensor.
///
/// Iteration (at most `max_iter`): with `cᵢ = clamp(⟨u, uᵢ⟩, −1, 1)` and `θᵢ = acos cᵢ`,
/// `T = Σ α̂ᵢ·θᵢ/sin θᵢ·(uᵢ − cᵢu)` over inputs with `θᵢ ≥ tol`; stop when `|T| < tol`,
/// else `u ← cos|T|·u + sin|T|·T/|T|`, renormalised. Inputs with norm ≤ tol do not steer
/// the direction; all count in the mean norm.
struct Karcher: MergeMethod {
    let name = "karcher"
    let summary = "Riemannian (Karcher) mean of the models on the sphere, scaled by their mean norm."
    let baseModel = BaseModelUse.unused
    let parameters = [
        ParameterSpec("max_iter", .global, .number, default: .number(10), "Maximum number of iterations.",
                      valid: NumberRange(0, to: 1_000_000)),
        ParameterSpec("tol", .global, .number, default: .number(1e-5), "Convergence tolerance."),
    ]

    func merge(_ job: TensorJob) throws {
        let maxIterations = Int(job.number("max_iter"))
        let tol = job.number("tol")
        try GramCombination(job: job, grouping: .whole, vectors: .init(includeBase: false, taskVectors: false)).run { g in
            Karcher.coefficients(gram: g, count: job.inputs.count, maxIterations: maxIterations, tol: tol)
        }
    }

    static func coefficients(gram g: [Double], count k: Int, maxIterations: Int, tol: Double) -> [Double] {
        let norms = (0..<k).map { max(g[$0 * k + $0], 0).squareRoot() }
        let valid = (0..<k).filter { norms[$0] > tol }
        guard !valid.isEmpty else { return [Double](repeating: 0, count: k) }
        let alphaValid = 1 / Double(valid.count)
        // u_i = v_i / n_i as coefficient vectors.
        let units = (0..<k).map { i -> [Double] in
            var e = [Double](repeating: 0, count: k)
            if norms[i] > 0 { e[i] = 1 / norms[i] }
            return e
        }
        var u = [Double](repeating: 0, count: k)
        for i in valid { u[i] += alphaValid / norms[i] }
        let startNorm = Gram.norm(u, g)
        if startNorm < tol { u = units[valid[0]] } else { u = u.map { $0 / startNorm } }

        for _ in 0..<maxIterations {
            var tangent = [Double](repeating: 0, count: k)
            for i in valid {
                let c = min(max(Gram.inner(u, units[i], g), -1), 1)
                let theta = acos(c)
                if theta < tol { continue }
                let factor = alphaValid * theta / sin(theta)
                for j in 0..<k { tangent[j] += factor * (units[i][j] - c * u[j]) }
            }
            let tangentNorm = Gram.norm(tangent, g)
            if tangentNorm < tol { break }
            u = (0..<k).map { cos(tangentNorm) * u[$0] + sin(tangentNorm) * tangent[$0] / tangentNorm }
            let n = Gram.norm(u, g)
            if n > tol { u = u.map { $0 / n } }
        }
        let meanNorm = norms.reduce(0, +) / Double(k)
        return u.map { $0 * meanNorm }
    }
}
