import CYaml
import Yams

/// YAML composition with bounded cost, for config files (merge and sweep configs).
///
/// Yams (like any YAML library) expands aliases: `b: &b [*a, *a, ...]` nine times over takes
/// a few hundred bytes and stands for billions of nodes, and anything that walks or hashes the
/// composed tree (Yams itself, for a mapping key that is an alias) pays for every one. So
/// before composing, libyaml's event stream is scanned once, in time linear in the text,
/// counting the nodes each anchor stands for: a document whose aliases expand to more than
/// `maxNodes` nodes is refused. (Deep nesting is libyaml's to refuse: it stops at 1000 levels.)
public enum BoundedYAML {
    /// The largest config file read (merge and sweep configs alike).
    public static let maxFileBytes = 16 << 20

    /// Far more than any config needs (a 70-model merge config has a few thousand nodes).
    public static let maxNodes = 100_000
    /// `Yams.compose(yaml:)`, after the check above (`ExpansionError`).
    public static func compose(_ text: String, maxNodes: Int = maxNodes) throws -> Node? {
        try check(text, maxNodes: maxNodes)
        return try Yams.compose(yaml: text)
    }

    /// Every document of a multi-document stream (`---` between them), after the same check
    /// over the whole stream.
    public static func composeAll(_ text: String, maxNodes: Int = maxNodes) throws -> [Node] {
        try check(text, maxNodes: maxNodes)
        let parser = try Parser(yaml: text)
        var documents: [Node] = []
        while let document = try parser.nextRoot() { documents.append(document) }
        return documents
    }

    /// A document too large once its aliases are expanded.
    public struct ExpansionError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Throws `ExpansionError` as soon as the nodes counted (aliases expanded) exceed
    /// `maxNodes`. Syntax errors are left to Yams.
    static func check(_ text: String, maxNodes: Int) throws {
        var bytes = Array(text.utf8)
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return }
        defer { yaml_parser_delete(&parser) }
        try bytes.withUnsafeMutableBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            // Expanded size of each anchored node; open collections with their size so far.
            var sizes: [String: Int] = [:]
            var open: [(anchor: String?, size: Int)] = []
            var total = 0
            func add(_ size: Int, anchor: String?) throws {
                if let anchor { sizes[anchor] = size }
                if open.isEmpty { total += size } else { open[open.count - 1].size += size }
                if total > maxNodes || (open.last?.size ?? 0) > maxNodes {
                    throw ExpansionError(description: "YAML aliases expand to more than \(maxNodes) nodes")
                }
            }
            func name(_ anchor: UnsafeMutablePointer<yaml_char_t>?) -> String? {
                anchor.map { String(cString: $0) }
            }
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_SCALAR_EVENT:
                    try add(1, anchor: name(event.data.scalar.anchor))
                case YAML_ALIAS_EVENT:
                    try add(name(event.data.alias.anchor).flatMap { sizes[$0] } ?? 1, anchor: nil)
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    let anchor = event.type == YAML_SEQUENCE_START_EVENT
                        ? name(event.data.sequence_start.anchor) : name(event.data.mapping_start.anchor)
                    open.append((anchor, 1))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    if let collection = open.popLast() { try add(collection.size, anchor: collection.anchor) }
                case YAML_STREAM_END_EVENT:
                    return
                default:
                    break
                }
            }
        }
    }
}
