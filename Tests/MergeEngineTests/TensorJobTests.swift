import MergeEngine
import Synchronization
import Testing

/// The chunk loops methods build on: results combine in chunk order whatever the threads.
@Suite struct TensorJobTests {
    func job(elements: Int, threads: Int) -> TensorJob {
        TensorJob(name: "t", shape: [elements], base: nil, inputs: [], parameters: [:], threads: threads) { _, _ in }
    }

    @Test("reduce folds every chunk once, in chunk order, for 1 and 4 threads; map keeps chunk order")
    func reduceInChunkOrder() throws {
        let elements = 9 * TensorJob.chunkElements + 5
        let expected = job(elements: elements, threads: 1).chunkRanges(byRows: false).map(\.lowerBound)
        #expect(expected.count == 10)
        for threads in [1, 4] {
            let subject = job(elements: elements, threads: threads)
            let folded = try subject.reduce(into: [Int]()) { chunk in chunk.range.lowerBound } combine: { $0.append($1) }
            #expect(folded == expected, "\(threads) threads")
            #expect(try subject.map { $0.range.lowerBound } == expected, "\(threads) threads")
        }
    }
}
