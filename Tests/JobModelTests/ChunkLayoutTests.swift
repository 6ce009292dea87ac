import JobModel
import Testing

/// The one chunk layout rule (docs/protocol.md §4) every payload, checksum and digest follows.
@Suite struct ChunkLayoutTests {
    @Test("chunks cover a payload in order, the last one shorter; an empty payload has none")
    func ranges() {
        let layout = ChunkLayout(size: 4)
        #expect(layout.ranges(10) == [0..<4, 4..<8, 8..<10])
        #expect(layout.ranges(8) == [0..<4, 4..<8])
        #expect(layout.ranges(0).isEmpty)
        #expect([0, 1, 4, 5, 8, 9].map(layout.count) == [0, 1, 1, 2, 2, 3])
    }

    @Test("a chunk starts only at a multiple of the size inside the payload")
    func chunkAtOffset() {
        let layout = ChunkLayout(size: 4)
        #expect(layout.range(at: 8, of: 10) == 8..<10)
        #expect(layout.range(at: 4, of: 10) == 4..<8)
        for offset in [-4, 2, 10, 12] { #expect(layout.range(at: offset, of: 10) == nil, "\(offset)") }
    }
}
