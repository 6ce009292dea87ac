import JobModel
import MergeEngine
import Testing

/// Multi-document configs (mergekit-multi's format) as ordered stages.
@Suite struct MergeStagesTests {
    func stages(_ yaml: String) throws -> [MergeStages.Stage] {
        try MergeStages(try ConfigParser.parseDocuments(yaml, source: "multi.yml"), output: "out", intermediateDirectory: "work").stages
    }

    @Test("stages run after the stages they read, names become intermediate folders, the unnamed one is final")
    func ordering() throws {
        let yaml = """
            merge_method: slerp
            base_model: a
            models: [{model: a}, {model: soup}]
            parameters: {t: 0.5}
            ---
            name: soup
            merge_method: linear
            models: [{model: b}, {model: pair}]
            ---
            name: pair
            merge_method: linear
            models: [{model: c}, {model: d}]
            tokenizer_source: c
            """
        let order = try stages(yaml)
        #expect(order.map(\.label) == ["pair", "soup", "final merge"])
        #expect(order.map(\.output) == ["work/pair", "work/soup", "out"])
        #expect(order.map(\.isFinal) == [false, false, true])
        #expect(order[1].config.modelReferences == ["b", "work/pair"])
        #expect(order[2].config.modelReferences == ["a", "work/soup"])
        // Each stage keeps its own document as its text (copied into its output folder).
        #expect(order[0].config.text.contains("name: pair") && !order[0].config.text.contains("soup"))
    }

    @Test("all named: the last document is the final merge, written to the output folder")
    func allNamed() throws {
        let order = try stages("name: x\nmerge_method: linear\nmodels: [{model: a}]\n---\nname: y\nmerge_method: linear\nmodels: [{model: x}]\n")
        #expect(order.map(\.output) == ["work/x", "out"])
        #expect(try stages("name: only\nmerge_method: linear\nmodels: [{model: a}]\n").map(\.output) == ["out"])
    }

    @Test("two unnamed documents, a duplicate name and a cycle are refused together")
    func refusals() throws {
        let cycle = "name: x\nmerge_method: linear\nmodels: [{model: y}]\n---\nname: y\nmerge_method: linear\nmodels: [{model: x}]\n---\n"
            + "merge_method: linear\nmodels: [{model: a}]\n"
        #expect(throws: ProblemList.self) { _ = try stages(cycle) }
        do {
            _ = try stages(cycle)
        } catch {
            #expect("\(error)".contains("cycle: x, y"), "\(error)")
        }
        let twice = "merge_method: linear\nmodels: [{model: a}]\n---\nmerge_method: linear\nmodels: [{model: b}]\n"
        #expect((try? stages(twice)) == nil)
        let duplicate = "name: x\nmerge_method: linear\nmodels: [{model: a}]\n---\nname: x\nmerge_method: linear\nmodels: [{model: b}]\n"
        do {
            _ = try stages(duplicate)
            Issue.record("a duplicate name was accepted")
        } catch {
            #expect("\(error)".contains("\"x\" names two documents"))
        }
        // A problem in one document names it.
        do {
            _ = try ConfigParser.parseDocuments("merge_method: linear\nmodels: [{model: a}]\n---\nmerge_method: linear\nmodelz: []\n")
            Issue.record("a bad second document was accepted")
        } catch {
            #expect("\(error)".contains("document 2: modelz"), "\(error)")
        }
        // parse(_:) takes one document and says where several go.
        #expect(throws: ProblemList.self) { _ = try ConfigParser.parse("merge_method: linear\nmodels: [{model: a}]\n---\nmerge_method: linear\nmodels: [{model: b}]\n") }
    }
}
