/// A safetensors element type, spelled as in the file header.
///
/// Every dtype can be read, copied through and written unchanged. The floating-point ones
/// (`isFloatingPoint`) also convert to and from Float32 for merge math (see `Conversion`).
public enum DType: String, CaseIterable, Sendable, Codable {
    case bool = "BOOL"
    case u8 = "U8", i8 = "I8", i16 = "I16", u16 = "U16", i32 = "I32", u32 = "U32", i64 = "I64", u64 = "U64"
    case f16 = "F16", bf16 = "BF16", f32 = "F32", f64 = "F64"
    case f8E4M3 = "F8_E4M3", f8E5M2 = "F8_E5M2", f8E8M0 = "F8_E8M0"
    case f8E4M3FNUZ = "F8_E4M3FNUZ", f8E5M2FNUZ = "F8_E5M2FNUZ"
    case f4 = "F4", f6E2M3 = "F6_E2M3", f6E3M2 = "F6_E3M2"
    case c64 = "C64"

    /// Storage size of one element in bits (4 and 6 for the sub-byte float formats).
    public var bitWidth: Int {
        switch self {
        case .f4: return 4
        case .f6E2M3, .f6E3M2: return 6
        case .bool, .u8, .i8, .f8E4M3, .f8E5M2, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ: return 8
        case .i16, .u16, .f16, .bf16: return 16
        case .i32, .u32, .f32: return 32
        case .i64, .u64, .f64, .c64: return 64
        }
    }

    /// True for the types that `Conversion` turns into Float32 (and, for F16/BF16/F32/F64,
    /// writes back from Float32).
    public var isFloatingPoint: Bool {
        switch self {
        case .f16, .bf16, .f32, .f64, .f8E4M3, .f8E5M2, .f8E8M0, .f8E4M3FNUZ, .f8E5M2FNUZ: return true
        default: return false
        }
    }

    /// True for the types a merge can write as output.
    public var isWritableFromFloat32: Bool { self == .f16 || self == .bf16 || self == .f32 || self == .f64 }

    /// Byte size of `count` elements, or nil when the bit count overflows or is not whole bytes.
    public func byteCount(elements count: UInt64) -> UInt64? {
        let (bits, overflow) = count.multipliedReportingOverflow(by: UInt64(bitWidth))
        guard !overflow, bits % 8 == 0 else { return nil }
        return bits / 8
    }

    /// The PyTorch / Hugging Face name (`torch_dtype` in config.json, `dtype:` in merge configs).
    public var torchName: String? {
        switch self {
        case .f16: return "float16"
        case .bf16: return "bfloat16"
        case .f32: return "float32"
        case .f64: return "float64"
        default: return nil
        }
    }

    /// Parses a PyTorch-style name (`bfloat16`, `float16`, `float32`, `float64`, also `bf16`,
    /// `fp16`, `fp32`, `half`, `float`, `double`) into a dtype.
    public init?(torchName name: String) {
        switch name.lowercased() {
        case "float16", "fp16", "f16", "half": self = .f16
        case "bfloat16", "bf16": self = .bf16
        case "float32", "fp32", "f32", "float": self = .f32
        case "float64", "fp64", "f64", "double": self = .f64
        default: return nil
        }
    }
}
