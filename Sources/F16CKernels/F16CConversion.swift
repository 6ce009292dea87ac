/// F16 ⇄ Float32 conversion loops compiled for x86-64 CPUs with F16C and AVX (Package.swift
/// gives this module those target features): the compiler turns them into `vcvtph2ps` and
/// `vcvtps2ph`, eight values at a time. The same IEEE conversions as TensorIO's baseline
/// code, bit for bit (round to nearest even, NaNs quiet with their payload's top bits); call
/// them only where the CPU has both features (`CPUFeatures.f16c` in TensorIO).
public enum F16CConversion {
    /// `count` F16 values at `source` (any alignment) → Float32, exact.
    public static func toFloat32(_ source: UnsafeRawPointer, _ destination: UnsafeMutablePointer<Float>, _ count: Int) {
        for i in 0..<count {
            destination[i] = Float(source.loadUnaligned(fromByteOffset: i &* 2, as: Float16.self))
        }
    }

    /// `count` Float32 values → F16 at `destination` (any alignment), rounded to nearest even.
    public static func fromFloat32(_ source: UnsafePointer<Float>, _ destination: UnsafeMutableRawPointer, _ count: Int) {
        for i in 0..<count {
            destination.storeBytes(of: Float16(source[i]), toByteOffset: i &* 2, as: Float16.self)
        }
    }
}
