import CVectorKernels

/// Instruction-set extensions this process uses beyond the baseline target it was built for,
/// decided once at start-up (CVectorKernels' `crucible_use_*`): one binary runs on any x86-64
/// and takes the faster path where the CPU has it, with byte-identical results (tested on
/// both paths). `CRUCIBLE_SIMD=baseline` in the environment turns every extension off.
public enum CPUFeatures {
    /// F16C with AVX: F16 ⇄ Float32 conversions in hardware.
    public static let f16c = crucible_use_f16c() != 0
    /// AVX2: Philox blocks, the threshold-key pass of exact selection and the task-arithmetic
    /// combination, eight lanes at a time.
    public static let avx2 = crucible_use_avx2() != 0
}
