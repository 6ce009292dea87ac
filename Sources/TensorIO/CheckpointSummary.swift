/// What `crucible inspect` reports about a checkpoint: its tensors, totals, metadata and
/// architecture, as a table for people or JSON for scripts.
public struct CheckpointSummary: Sendable {
    public let path: String
    public let tensors: [TensorInfo]
    public let shardCount: Int
    public let metadata: [(key: String, value: String)]
    public let architecture: String?
    public let layerCount: Int
    public let configLayerCount: Int?

    public init(_ checkpoint: Checkpoint) {
        path = checkpoint.path
        tensors = checkpoint.tensorNames.compactMap { checkpoint.info($0) }
        shardCount = checkpoint.files.count
        metadata = checkpoint.files.first?.metadata ?? []
        architecture = checkpoint.config?["architectures"]?.arrayValue?.first?.stringValue
            ?? checkpoint.config?["model_type"]?.stringValue
        layerCount = checkpoint.detectedLayerCount
        configLayerCount = checkpoint.config?["num_hidden_layers"]?.int64Value.map(Int.init)
    }

    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.elementCount } }
    public var byteCount: Int { tensors.reduce(0) { $0 + $1.byteCount } }

    /// Element count per dtype, in first-seen order.
    public var dtypeCounts: [(DType, Int)] {
        var order: [DType] = []
        var counts: [DType: Int] = [:]
        for t in tensors {
            if counts[t.dtype] == nil { order.append(t.dtype) }
            counts[t.dtype, default: 0] += t.elementCount
        }
        return order.map { ($0, counts[$0]!) }
    }

    public func json() -> JSONValue {
        var root = JSONObject()
        root["path"] = .string(path)
        root["architecture"] = architecture.map(JSONValue.string) ?? .null
        root["layers"] = .integer(layerCount)
        root["shards"] = .integer(shardCount)
        root["parameters"] = .integer(parameterCount)
        root["bytes"] = .integer(byteCount)
        root["metadata"] = .object(JSONObject(metadata.map { .init(key: $0.key, value: .string($0.value)) }))
        root["tensors"] = .array(tensors.map { t in
            .object(JSONObject([
                "name": .string(t.name),
                "dtype": .string(t.dtype.rawValue),
                "shape": .array(t.shape.map { .integer($0) }),
                "bytes": .integer(t.byteCount),
            ]))
        })
        return .object(root)
    }

    public func table(limit: Int = 0) -> String {
        let shown = limit > 0 ? Array(tensors.prefix(limit)) : tensors
        let rows = shown.map { t in
            [t.name, t.dtype.rawValue, "[" + t.shape.map(String.init).joined(separator: ", ") + "]", ByteCount.format(t.byteCount)]
        }
        var out = TextTable(header: ["tensor", "dtype", "shape", "bytes"], rows: rows, rightAligned: [3]).render()
        if shown.count < tensors.count { out += "… \(tensors.count - shown.count) more tensors (use --limit 0 for all)\n" }
        out += "\n"
        out += "path:         \(path)\n"
        out += "architecture: \(architecture ?? "unknown (no config.json)")\n"
        var layers = "\(layerCount) (from tensor names)"
        if let configLayerCount, configLayerCount != layerCount { layers += ", config.json says \(configLayerCount)" }
        out += "layers:       \(layers)\n"
        out += "tensors:      \(tensors.count) in \(shardCount) file\(shardCount == 1 ? "" : "s")\n"
        out += "parameters:   \(parameterCount) (" + dtypeCounts.map { "\($0.0.rawValue): \($0.1)" }.joined(separator: ", ") + ")\n"
        out += "bytes:        \(byteCount) (\(ByteCount.format(byteCount)))\n"
        out += "metadata:     " + (metadata.isEmpty ? "none" : metadata.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        return out
    }
}

/// A plain-text table with a header row and aligned columns.
public struct TextTable: Sendable {
    public let header: [String]
    public let rows: [[String]]
    /// Column indices aligned to the right (numbers).
    public let rightAligned: Set<Int>

    public init(header: [String], rows: [[String]], rightAligned: Set<Int> = []) {
        self.header = header
        self.rows = rows
        self.rightAligned = rightAligned
    }

    public func render() -> String {
        var widths = header.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: widths[i] - cell.count)
                return rightAligned.contains(i) ? pad + cell : (i == cells.count - 1 ? cell : cell + pad)
            }.joined(separator: "  ") + "\n"
        }
        return line(header) + line(widths.map { String(repeating: "-", count: $0) }) + rows.map(line).joined()
    }
}
