import JobModel
import TensorIO

extension VocabularyRemap {
    /// Each of `inputs` (the task's inputs, by plan model index) laid out in the output
    /// vocabulary as a Float32 `[rows, hidden]` tensor held in memory for the task: its own
    /// rows, the fill rows it lacks (each the mean of its sources, summed in order in Float32),
    /// zeros for the rest, and padding rows that are the mean of its token rows.
    func apply(to inputs: [(model: Int, view: TensorView)], name: String) throws -> [TensorView] {
        guard let hidden = inputs.first?.view.shape.last, inputs.allSatisfy({ $0.view.shape.count == 2 && $0.view.shape[1] == hidden }) else {
            throw JobError("\(name): the vocabulary inputs are not matrices of one width")
        }
        func view(of model: Int) throws -> TensorView {
            guard let input = inputs.first(where: { $0.model == model }) else { throw JobError("\(name): the remap reads model \(model), not an input") }
            return input.view
        }
        func read(_ model: Int, row: Int, into destination: UnsafeMutableBufferPointer<Float>) throws {
            let source = try view(of: model)
            guard row >= 0, row < source.shape[0] else { throw JobError("\(name): row \(row) is past the \(source.shape[0]) rows of model \(model)") }
            try source.readFloat32(row * hidden..<(row + 1) * hidden, into: destination)
        }
        // The shared fill rows, once.
        var fills: [Int: [Float]] = [:]
        var scratch = [Float](repeating: 0, count: hidden)
        for fill in self.fill {
            guard fill.row >= 0, fill.row < tokens else { throw JobError("\(name): fill row \(fill.row) is past the \(tokens) tokens") }
            var sum = [Float](repeating: 0, count: hidden)
            for source in fill.from {
                guard source.count == 2 else { throw JobError("\(name): a fill source is not [model, row]") }
                try scratch.withUnsafeMutableBufferPointer { try read(source[0], row: source[1], into: $0) }
                for i in 0..<hidden { sum[i] += scratch[i] }
            }
            if fill.from.count > 1 { for i in 0..<hidden { sum[i] /= Float(fill.from.count) } }
            fills[fill.row] = sum
        }
        return try inputs.map { model, source in
            guard let own = self.own.first(where: { $0.model == model }) else { throw JobError("\(name): no rows for model \(model)") }
            return try TensorView.inMemory(name: source.name, dtype: .f32, shape: [rows, hidden], file: "\(source.file) (in the output vocabulary)") { bytes in
                let out = bytes.bindMemory(to: Float.self)
                out.initialize(repeating: 0)
                for (row, values) in fills { _ = UnsafeMutableBufferPointer(rebasing: out[row * hidden..<(row + 1) * hidden]).initialize(from: values) }
                for span in own.spans {
                    guard span.count == 3, span[0] >= 0, span[1] >= 0, span[2] >= 0, span[0] + span[2] <= tokens, span[1] + span[2] <= source.shape[0] else {
                        throw JobError("\(name): the rows \(span) do not fit \(tokens) tokens and \(source.shape[0]) input rows")
                    }
                    try source.readFloat32(span[1] * hidden..<(span[1] + span[2]) * hidden,
                                           into: UnsafeMutableBufferPointer(rebasing: out[span[0] * hidden..<(span[0] + span[2]) * hidden]))
                }
                guard rows > tokens else { return }
                // Padding: the mean of the token rows, summed in row order in Float64.
                var mean = [Double](repeating: 0, count: hidden)
                for row in 0..<tokens { for i in 0..<hidden { mean[i] += Double(out[row * hidden + i]) } }
                for row in tokens..<rows { for i in 0..<hidden { out[row * hidden + i] = Float(mean[i] / Double(tokens)) } }
            }
        }
    }
}
