#if canImport(Glibc)
import Glibc
#endif

/// Spherical interpolation between the base (t = 0) and one other model (t = 1), over the
/// whole flattened tensor. Norms ≤ 1e-8 count as 1; when the normalised vectors are nearly
/// colinear (|cos| > 0.9995) it interpolates linearly.
struct Slerp: MergeMethod {
    let name = "slerp"
    let summary = "Spherical interpolation between the base and one other model."
    let baseModel = BaseModelUse.required
    let inputCount = 1...1
    let parameters = [
        ParameterSpec("t", .global, .number, default: nil, "Interpolation factor: 0 = base, 1 = the other model."),
    ]

    func merge(_ job: TensorJob) throws {
        let t = job.number("t")
        try GramCombination(job: job, grouping: .whole, vectors: .init(includeBase: true, taskVectors: false)).run { g in
            Slerp.coefficients(t: t, gram: g)
        }
    }

    static func coefficients(t: Double, gram g: [Double]) -> [Double] {
        let n0 = g[0].squareRoot(), n1 = g[3].squareRoot()
        let a = n0 > 1e-8 ? 1 / n0 : 1, b = n1 > 1e-8 ? 1 / n1 : 1
        let dot = g[1] * a * b
        if abs(dot) > 0.9995 { return [1 - t, t] }
        let theta = acos(dot)
        let sinTheta = sin(theta)
        return [sin((1 - t) * theta) / sinTheta, sin(t * theta) / sinTheta]
    }
}
