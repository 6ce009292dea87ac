import JobModel
import TensorIO

/// A multi-document config (mergekit-multi's format) as stages run in order: each document is
/// a merge; a named one is written to `intermediateDirectory/<name>`, and later documents may
/// use that name as a model; the one unnamed document (or, when every document is named, the
/// last one) is the final merge, written to the output folder. A stage runs after every stage
/// whose output it reads; otherwise document order is kept.
public struct MergeStages: Sendable {
    public struct Stage: Sendable {
        /// The document, with the names of earlier stages replaced by their output folders.
        public let config: MergeConfig
        /// Where the stage's output goes.
        public let output: String
        public let isFinal: Bool
        /// A name for messages: the `name:`, or "final merge".
        public var label: String { config.name ?? "final merge" }
    }

    /// In the order they run.
    public let stages: [Stage]

    /// Orders `documents`; every problem (duplicate or missing names, a cycle) is reported together.
    public init(_ documents: [MergeConfig], output: String, intermediateDirectory: String, source: String = "config") throws(ProblemList) {
        var problems: [ProblemList.Problem] = []
        let unnamed = documents.indices.filter { documents[$0].name == nil }
        if unnamed.count > 1 {
            problems.append(.init("", "\(unnamed.count) documents have no `name:`; only the final merge may be unnamed"))
        }
        var seen = Set<String>()
        for name in documents.compactMap(\.name) where !seen.insert(name).inserted {
            problems.append(.init("name", "\"\(name)\" names two documents"))
        }
        for name in seen where name.contains("/") || name == "." || name == ".." {
            problems.append(.init("name", "\"\(name)\" cannot name a folder of the intermediate directory"))
        }
        let final = unnamed.first ?? documents.count - 1
        var paths: [String: String] = [:]
        for (index, document) in documents.enumerated() where index != final {
            if let name = document.name { paths[name] = FileSystem.join(intermediateDirectory, name) }
        }
        if let name = documents[final].name { paths[name] = output }
        let dependencies = documents.map { document in
            Set(document.modelReferences + (document.tokenizer?.modelReferences ?? [])).compactMap { reference in documents.firstIndex { $0.name == LoRAAdapter.split(reference).model } }
        }
        // Kahn's algorithm, taking the earliest ready document each time.
        var order: [Int] = []
        var placed = Set<Int>()
        while order.count < documents.count {
            guard let next = documents.indices.first(where: { !placed.contains($0) && dependencies[$0].allSatisfy(placed.contains) }) else {
                let stuck = documents.indices.filter { !placed.contains($0) }.map { documents[$0].name ?? "the final merge" }
                problems.append(.init("", "the documents depend on each other in a cycle: \(stuck.joined(separator: ", "))"))
                break
            }
            order.append(next)
            placed.insert(next)
        }
        if !problems.isEmpty { throw ProblemList(source: source, problems: problems) }
        stages = order.map { index in
            Stage(config: documents[index].renamingModels(paths), output: index == final ? output : paths[documents[index].name!]!,
                  isFinal: index == final)
        }
    }
}
