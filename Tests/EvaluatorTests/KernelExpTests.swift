import Foundation
import Testing
@testable import Evaluator

/// The forward pass's own eˣ against the exact value (libm's Double exp, rounded once).
@Suite struct KernelExpTests {
    /// Units in the last place between two positive, normal Floats.
    func ulps(_ a: Float, _ b: Float) -> Int { abs(Int(a.bitPattern) - Int(b.bitPattern)) }

    @Test("Kernels.exp is within 2 ulp of the exact eˣ from −87.3 to 88.3, exact at 0, and saturates outside")
    func accuracy() {
        var worst = 0, at: Float = 0
        var x: Float = -87.3
        while x <= 88.3 {
            let got = Kernels.exp(x), want = Float(Foundation.exp(Double(x)))
            if ulps(got, want) > worst { (worst, at) = (ulps(got, want), x) }
            x = x.nextUp + abs(x) * 1e-5 + 1e-6
        }
        #expect(worst <= 2, "worst \(worst) ulp at \(at)")
        #expect(Kernels.exp(0) == 1)
        #expect(Kernels.exp(-1000) > 0 && Kernels.exp(-1000) < 1e-37)
        #expect(Kernels.exp(1000).isFinite && Kernels.exp(1000) > 1e38)
        #expect(Kernels.silu(-1000) == 0 || abs(Kernels.silu(-1000)) < 1e-30)
    }
}
