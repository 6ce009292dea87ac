import Foundation
import TensorIO

/// Rotary position embedding parameters from config.json: `rope_parameters` (transformers 5)
/// or `rope_theta` + `rope_scaling` (transformers 4), with `partial_rotary_factor`.
/// Frequencies follow transformers' `modeling_rope_utils` (Float32 like torch).
public struct RoPEConfig: Sendable {
    public enum Scaling: Sendable, Equatable {
        case none
        case linear(factor: Double)
        case dynamic(factor: Double, originalMax: Int)
        case llama3(factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double, originalMax: Int)
        case yarn(factor: Double, originalMax: Int, betaFast: Double, betaSlow: Double, attentionFactor: Double, truncate: Bool)
    }

    public static let supportedTypes = "default, linear, dynamic, llama3, yarn"

    public let theta: Double
    /// Rotated dimensions of each head (even; `head_dim` unless partial).
    public let rotaryDim: Int
    public let scaling: Scaling

    public init(config: JSONObject, headDim: Int) throws(EvalError) {
        let c = ConfigReader(config)
        var params: JSONObject
        if let p = config["rope_parameters"]?.objectValue {
            guard p["full_attention"] == nil, p["sliding_attention"] == nil else {
                throw EvalError("config.json: rope_parameters per layer type are not supported")
            }
            params = p
        } else {
            params = config["rope_scaling"]?.objectValue ?? JSONObject()
            if params["rope_theta"] == nil, let theta = config["rope_theta"] { params["rope_theta"] = theta }
        }
        let p = ConfigReader(params)
        theta = try p.double("rope_theta", default: 10000)
        var partial = try c.double("partial_rotary_factor", default: 1)
        if let inner = try p.optionalDouble("partial_rotary_factor") { partial = inner }
        rotaryDim = Int(Double(headDim) * partial)
        guard rotaryDim > 0, rotaryDim % 2 == 0, rotaryDim <= headDim else {
            throw EvalError("config.json: rotary dimension \(rotaryDim) (head_dim \(headDim) × partial_rotary_factor) must be even and positive")
        }
        let type = params["rope_type"]?.stringValue ?? params["type"]?.stringValue ?? "default"
        let maxPositions = try c.optionalInt("max_position_embeddings")
        func factor() throws(EvalError) -> Double {
            guard let f = try p.optionalDouble("factor"), f > 0 else { throw EvalError("config.json: RoPE scaling \"\(type)\" needs a positive factor") }
            return f
        }
        func originalMax() throws(EvalError) -> Int {
            if let o = try p.optionalInt("original_max_position_embeddings") { return o }
            if let o = try c.optionalInt("original_max_position_embeddings") { return o }
            guard let maxPositions else { throw EvalError("config.json: RoPE scaling \"\(type)\" needs max_position_embeddings") }
            return maxPositions
        }
        switch type {
        case "default": scaling = .none
        case "linear": scaling = .linear(factor: try factor())
        case "dynamic":
            guard let maxPositions else { throw EvalError("config.json: dynamic RoPE needs max_position_embeddings") }
            // transformers scales against max_position_embeddings itself for this type.
            scaling = .dynamic(factor: try factor(), originalMax: maxPositions)
        case "llama3":
            scaling = .llama3(factor: try factor(), lowFrequencyFactor: try p.double("low_freq_factor", default: 1),
                              highFrequencyFactor: try p.double("high_freq_factor", default: 4), originalMax: try originalMax())
        case "yarn":
            let original = try originalMax()
            let f: Double
            if let given = try p.optionalDouble("factor") {
                guard given > 0 else { throw EvalError("config.json: yarn RoPE needs a positive factor") }
                f = given
            } else {
                // As transformers: without a factor, the ratio of the context lengths.
                guard let maxPositions else { throw EvalError("config.json: yarn RoPE needs a factor or max_position_embeddings") }
                f = Double(maxPositions) / Double(original)
            }
            func mscale(_ scale: Double, _ m: Double = 1) -> Double { scale <= 1 ? 1 : 0.1 * m * log(scale) + 1 }
            var attention = try p.optionalDouble("attention_factor")
            if attention == nil {
                if let m = try p.optionalDouble("mscale"), let all = try p.optionalDouble("mscale_all_dim"), m != 0, all != 0 {
                    attention = mscale(f, m) / mscale(f, all)
                } else {
                    attention = mscale(f)
                }
            }
            scaling = .yarn(factor: f, originalMax: original, betaFast: try p.double("beta_fast", default: 32),
                            betaSlow: try p.double("beta_slow", default: 1), attentionFactor: attention!,
                            truncate: try p.bool("truncate", default: true))
        default:
            throw EvalError("RoPE scaling \"\(type)\" is not supported (supported: \(RoPEConfig.supportedTypes))")
        }
    }

    /// The inverse frequencies (rotaryDim / 2 of them, Float32 as torch computes them) and the
    /// factor cos and sin are multiplied by, for windows of `length` tokens.
    public func frequencies(length: Int) -> (inverse: [Float], attentionScaling: Float) {
        let dim = rotaryDim
        func base(_ b: Double) -> [Float] {
            (0..<(dim / 2)).map { i in
                let exponent = Float(2 * i) / Float(dim)
                return 1 / Float(pow(b, Double(exponent)))
            }
        }
        switch scaling {
        case .none: return (base(theta), 1)
        case .linear(let factor): return (base(theta).map { $0 / Float(factor) }, 1)
        case .dynamic(let factor, let originalMax):
            let seq = Double(max(length, originalMax))
            let b = theta * pow(factor * seq / Double(originalMax) - (factor - 1), Double(dim) / Double(dim - 2))
            return (base(b), 1)
        case .llama3(let factor, let low, let high, let originalMax):
            let lowWavelen = Double(originalMax) / low
            let highWavelen = Double(originalMax) / high
            let inv = base(theta).map { f -> Float in
                let wavelen = 2 * Double.pi / Double(f)
                var scaled = wavelen > lowWavelen ? f / Float(factor) : f
                if !(wavelen < highWavelen) && !(wavelen > lowWavelen) {
                    let smooth = Float((Double(originalMax) / wavelen - low) / (high - low))
                    scaled = (1 - smooth) * scaled / Float(factor) + smooth * scaled
                }
                return scaled
            }
            return (inv, 1)
        case .yarn(let factor, let originalMax, let betaFast, let betaSlow, let attentionFactor, let truncate):
            func correctionDim(_ rotations: Double) -> Double {
                Double(dim) * log(Double(originalMax) / (rotations * 2 * Double.pi)) / (2 * log(theta))
            }
            var low = correctionDim(betaFast), high = correctionDim(betaSlow)
            if truncate { low = floor(low); high = ceil(high) }
            low = max(low, 0); high = min(high, Double(dim - 1))
            if low == high { high += 0.001 }
            let inv = (0..<(dim / 2)).map { i -> Float in
                let exponent = Float(2 * i) / Float(dim)
                let posFreq = Float(pow(theta, Double(exponent)))
                let extrapolation = 1 / posFreq
                let interpolation = 1 / (Float(factor) * posFreq)
                let ramp = min(max((Float(i) - Float(low)) / (Float(high) - Float(low)), 0), 1)
                let extrapolationFactor = 1 - ramp
                return interpolation * (1 - extrapolationFactor) + extrapolation * extrapolationFactor
            }
            return (inv, Float(attentionFactor))
        }
    }

    /// cos and sin tables, `length × rotaryDim/2` each, for positions 0..<length.
    public func tables(length: Int) -> (cos: [Float], sin: [Float]) {
        let (inv, scale) = frequencies(length: length)
        let half = rotaryDim / 2
        var cosTable = [Float](repeating: 0, count: length * half)
        var sinTable = [Float](repeating: 0, count: length * half)
        for p in 0..<length {
            for i in 0..<half {
                let angle = inv[i] * Float(p)   // Float32 product, as torch
                cosTable[p * half + i] = Float(cos(Double(angle))) * scale
                sinTable[p * half + i] = Float(sin(Double(angle))) * scale
            }
        }
        return (cosTable, sinTable)
    }

    /// Rotates the first `rotaryDim` values of one head vector at `position` in place (the
    /// "rotate half" layout of transformers: pairs (i, i + rotaryDim/2)).
    @inline(__always)
    static func rotate(_ x: UnsafeMutablePointer<Float>, half: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
        for i in 0..<half {
            let a = x[i], b = x[i + half]
            x[i] = a * cos[i] - b * sin[i]
            x[i + half] = b * cos[i] + a * sin[i]
        }
    }
}
