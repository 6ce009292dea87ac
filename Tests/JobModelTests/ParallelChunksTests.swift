import Foundation
import JobModel
import Synchronization
import Testing

/// The chunk loop under merges, sweeps and analyses: results combine in chunk order.
@Suite struct ParallelChunksTests {
    @Test("reduce folds every chunk once in chunk order, even when the first chunk finishes last; map keeps chunk order")
    func reduceInChunkOrder() throws {
        let count = 10
        let later = Atomic<Int>(0)
        // Chunk 0 waits (up to 5 s) until every other chunk is done, so they all finish first.
        let folded = try ParallelChunks.reduce(count, threads: 4, floats: 1, into: [Int]()) { index, _ in
            if index == 0 {
                let deadline = Date().addingTimeInterval(5)
                while later.load(ordering: .acquiring) < count - 1 && Date() < deadline { usleep(1000) }
            } else {
                later.add(1, ordering: .releasing)
            }
            return index
        } combine: { $0.append($1) }
        #expect(later.load(ordering: .acquiring) == count - 1)
        #expect(folded == Array(0..<count))
        for threads in [1, 3] {
            #expect(try ParallelChunks.map(count, threads: threads, floats: 1) { index, _ in index * index } == (0..<count).map { $0 * $0 })
        }
    }

    @Test("fold hands every chunk to exactly one worker, each folding into its own state")
    func foldGivesEachChunkToOneWorker() throws {
        for threads in [1, 3] {
            let states = try ParallelChunks.fold(10, threads: threads, floats: 1, into: [Int]()) { index, _, seen in seen.append(index) }
            #expect(states.count == threads)
            #expect(states.flatMap { $0 }.sorted() == Array(0..<10))
        }
    }
}
