import Testing
import TensorIO

private let layerNameCases: [(String, String, Int, String)] = [
    ("model.layers.12.self_attn.q_proj.weight", "model.layers.", 12, ".self_attn.q_proj.weight"),
    ("transformer.h.3.attn.c_attn.weight", "transformer.h.", 3, ".attn.c_attn.weight"),
    ("model.decoder.layers.0.fc1.bias", "model.decoder.layers.", 0, ".fc1.bias"),
    ("blocks.7.mlp.w1", "blocks.", 7, ".mlp.w1"),
    ("layers.5.weight", "layers.", 5, ".weight"),
]

@Suite("Layer indices in tensor names")
struct LayerNameTests {
    @Test("the layer index is found in the common naming schemes and can be renumbered", arguments: layerNameCases)
    func parsesLayerNames(name: String, prefix: String, index: Int, suffix: String) throws {
        let layer = try #require(LayerName(name))
        #expect(layer.prefix == prefix && layer.index == index && layer.suffix == suffix)
        #expect(layer.name == name)
        #expect(layer.renumbered(40) == prefix + "40" + suffix)
    }

    @Test("names without a layer index are not layer names", arguments: [
        "model.embed_tokens.weight", "lm_head.weight", "model.norm.weight", "model.layers.x.weight", "model.layers.7", "layers",
        "model.layers.-1.weight",
    ])
    func rejectsNonLayerNames(name: String) {
        #expect(LayerName(name) == nil)
    }
}
