"""ONNX graphs for the generating tasks (one_to_many, seq2seq): greedy decoding over fused nodes.

tf2onnx converts zoo.decoding.greedy_decode as written: each step reruns the whole model over the
tokens so far, its masked recurrent layers as Loops inside the decoding Loop. Here the source side
(encoder, or the image's projections to states) runs once, and the decoding Loop advances each
decoder layer by one step: one fused RNN / GRU / LSTM node that carries its state.

The tokens are the same: the decoder reads left to right, so the carried states are what the rerun
recomputes. A fed-back padding id (predicted, or put after <eos>) is read as any other token, because
Keras does so too: a layer called with `initial_state` has several tensor arguments, and Keras 3 then
does not pass it the Embedding's mask (only the loss uses that mask).
"""

import keras
import numpy as np
from onnx import TensorProto, numpy_helper

from export.fused import Graph, LayerWriter, Unsupported, finish_model, float32, layer_inputs, layer_outputs


def greedy_decoder_onnx(model, vocab, max_len, opset):
    """(ONNX model, notes for metadata.json) computing what zoo.decoding.decoder(model, vocab, max_len) does.

    Unsupported for any layer or wiring not written here; the caller falls back to tf2onnx.
    """
    if len(model.inputs) != 2 or len(model.outputs) != 1:
        raise Unsupported("a generating model takes a source and the tokens so far")
    source, tokens = model.inputs
    g = Graph()
    writer = LayerWriter(g, source)
    names = {id(source): source.name}  # Keras tensor -> ONNX name, outside the decoding loop
    decoder, from_tokens = [], {id(tokens)}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        first, *states = layer_inputs(layer)
        if id(first) in from_tokens:
            if any(id(s) not in names for s in states):
                raise Unsupported(f"{layer.name}: a decoder state that the source side does not give")
            decoder.append((layer, [names[id(s)] for s in states]))
            from_tokens.update(id(t) for t in layer_outputs(layer))
        elif isinstance(layer, keras.layers.Concatenate):  # a bidirectional encoder's two states
            names[id(layer.output)] = g.op("Concat", [names[id(t)] for t in (first, *states)], axis=-1)
        elif states or id(first) not in names:
            raise Unsupported(f"{layer.name}: a source-side layer with several inputs")
        else:
            writer.x = names[id(first)]
            names.update(zip(map(id, layer_outputs(layer)), writer.write(layer)))
    token_ids = _decoding_loop(g, writer, source.name, decoder, vocab, max_len)
    # Tokens have no NaN: -1, which is no token's id, marks a row whose padding was not at the end.
    token_ids = writer.guarded(token_ids, 2, np.int32(-1))
    output = ("token_ids", TensorProto.INT32, [None, max_len])
    return finish_model(g, model.name, opset, source, output, token_ids), writer.notes()


def _decoding_loop(g, writer, source_name, decoder, vocab, max_len):
    """The ONNX Loop of greedy decoding: token ids [batch, max_len], padding after <eos>."""
    if len(decoder) < 3 or not isinstance(decoder[0][0], keras.layers.Embedding) \
            or not isinstance(decoder[-1][0], keras.layers.Dense):
        raise Unsupported("a decoder that is not Embedding, recurrent layers, Dense")
    embedding, (head, _) = decoder[0][0], decoder[-1]
    recurrent = decoder[1:-1]
    for layer, states in recurrent:
        if not isinstance(layer, keras.layers.RNN) or layer.go_backwards or not states:
            raise Unsupported(f"{layer.name}: not a forward recurrent layer started from the source")
    if head.activation is not keras.activations.softmax or not head.use_bias:
        raise Unsupported(f"{head.name}: the decoder's head must be a softmax with a bias")
    # Carried through the loop with a leading time axis of 1, the shape fused nodes read and write:
    # the last tokens [1, batch], which rows have ended [1, batch], each layer's states [1, batch, units].
    batch = g.op("Shape", [source_name], start=0, end=1)
    one_by_batch = g.op("Concat", [g.ints([1]), batch], axis=0)

    def filled(value):
        return g.op("ConstantOfShape", [one_by_batch], value=numpy_helper.from_array(np.array([value])))

    first_tokens, none_ended = filled(np.int32(vocab.id(vocab.BOS))), filled(False)
    initial_states = [g.op("Unsqueeze", [state, g.ints([0])]) for _, states in recurrent for state in states]
    state_types = [(TensorProto.FLOAT, 3)] * len(initial_states)

    def step(_iteration, keep_going, last_tokens, ended, *states):
        x = g.op("Gather", [g.const(float32(embedding.embeddings), "embeddings"), last_tokens])
        states, next_states = list(states), []
        for layer, layer_states in recurrent:
            carried = [states.pop(0) for _ in layer_states]
            _, *finals = writer.recurrent_node([layer], x, initial_states=carried, outputs=1 + len(carried))
            next_states += finals
            x = finals[0]  # [1, batch, units]: the next layer's one time step
        logits = g.op("Add", [g.op("MatMul", [x, g.const(float32(head.kernel))]),
                              g.const(float32(head.bias))])
        chosen = g.op("ArgMax", [g.op("Softmax", [logits], axis=-1)], axis=-1, keepdims=0)
        chosen = g.op("Cast", [chosen], to=TensorProto.INT32)
        chosen = g.op("Where", [ended, g.const(0, dtype=np.int32), chosen])  # padding after <eos>
        ended = g.op("Or", [ended, g.op("Equal", [chosen, g.const(vocab.id(vocab.EOS), dtype=np.int32)])])
        # Each turn emits [batch], not the [1, batch] it carries: runtimes that read a Loop's scan
        # outputs differently (onnx.reference) agree on a value with no axis of 1 to squeeze.
        return [keep_going, chosen, ended, *next_states, g.op("Squeeze", [chosen, g.ints([0])])]

    carried = [(TensorProto.INT32, 2), (TensorProto.BOOL, 2), *state_types]
    body = g.subgraph(step, "greedy_step", [(TensorProto.INT64, 0), (TensorProto.BOOL, 0), *carried],
                      [(TensorProto.BOOL, 0), *carried, (TensorProto.INT32, 1)])
    *_, steps = g.op("Loop", [g.const(max_len, dtype=np.int64), g.const(True, dtype=np.bool_), first_tokens,
                              none_ended, *initial_states], outputs=len(carried) + 1, body=body)
    # steps: [max_len, batch] -> [batch, max_len]
    return g.op("Transpose", [steps], perm=[1, 0])
