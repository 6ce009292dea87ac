#if canImport(Glibc)
import Glibc
#endif

/// Instruction-set extensions this process may use beyond the baseline target it was built
/// for, decided once at start-up: one binary runs on any x86-64 and takes the faster path
/// where the CPU has it, with byte-identical results (tested on both paths).
/// `CRUCIBLE_SIMD=baseline` in the environment turns every extension off.
public enum CPUFeatures {
    /// F16C with AVX (x86-64): F16 ⇄ Float32 conversions in hardware (`F16CConversion`).
    public static let f16c: Bool = {
        #if arch(x86_64) && os(Linux)
        if let setting = getenv("CRUCIBLE_SIMD"), String(cString: setting) == "baseline" { return false }
        let flags = cpuFlags()
        return flags.contains("f16c") && flags.contains("avx")
        #else
        return false
        #endif
    }()

    /// The `flags` the kernel lists for the first CPU in /proc/cpuinfo (the features it
    /// enabled, AVX state included); empty when it cannot be read.
    static func cpuFlags() -> Set<Substring> {
        guard let text = try? FileSystem.readText("/proc/cpuinfo", limit: 1 << 22, what: "/proc/cpuinfo"),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " "))
    }
}
