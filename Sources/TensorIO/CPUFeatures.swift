import CF16C
#if canImport(Glibc)
import Glibc
#endif

/// Instruction-set extensions this process may use beyond the baseline target it was built
/// for, decided once at start-up: one binary runs on any x86-64 and takes the faster path
/// where the CPU has it, with byte-identical results (tested on both paths).
/// `CRUCIBLE_SIMD=baseline` in the environment turns every extension off.
public enum CPUFeatures {
    /// F16C with AVX (x86-64): F16 ⇄ Float32 conversions in hardware (CF16C).
    public static let f16c: Bool = !baselineOnly && crucible_f16c_available() != 0

    /// True when `CRUCIBLE_SIMD=baseline` asks for the baseline code everywhere.
    static let baselineOnly: Bool = {
        guard let setting = getenv("CRUCIBLE_SIMD") else { return false }
        return String(cString: setting) == "baseline"
    }()
}
