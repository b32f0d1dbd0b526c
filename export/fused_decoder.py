"""ONNX graphs for the generating tasks (one_to_many, seq2seq): greedy decoding over fused nodes.

zoo.decoding decodes with the model's Decoding (zoo.step.decoding_models): the source model once, then
the decoder's step model each turn, each recurrent layer one call of its cell. tf2onnx would write
those cells as plain operators inside the decoding Loop. Here the source side (encoder, or the image's
projections to states) is written as fused nodes, and the decoding Loop advances each decoder layer
by one step: one fused RNN / GRU / LSTM node that carries its state. Every export checks the tokens
it generates against the step model's.

SourceAttention's keys over the source steps are written once, before the loop; each turn scores its
step's query against them.

A fed-back padding id (predicted, or put after <eos>) is read as any other token, because
Keras does so too: a layer called with `initial_state` has several tensor arguments, and Keras 3 then
does not pass it the Embedding's mask (only the loss uses that mask).
"""

import keras
import numpy as np
from onnx import TensorProto, numpy_helper

from export.fused import Graph, LayerWriter, Unsupported, finish_model, float32, layer_inputs, layer_outputs
from zoo.layers import MASKED_SCORE, SourceAttention


def greedy_decoder_onnx(model, vocab, max_len, opset, reads_lengths=False):
    """(ONNX model, notes for metadata.json) computing what zoo.decoding.decoder(model, vocab, max_len) does.

    reads_lengths: the encoder's nodes read sequence_lens (export.fused.LayerWriter), for ONNX Runtime.
    Unsupported for any layer or wiring not written here; the caller falls back to tf2onnx.
    """
    if len(model.inputs) != 2 or len(model.outputs) != 1:
        raise Unsupported("a generating model takes a source and the tokens so far")
    source, tokens = model.inputs
    g = Graph()
    writer = LayerWriter(g, source, reads_lengths)
    names = {id(source): source.name}  # Keras tensor -> ONNX name, outside the decoding loop
    decoder, from_tokens = [], {id(tokens)}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        first, *others = layer_inputs(layer)
        if id(first) in from_tokens:
            for other in others:
                if id(other) not in names and id(other) not in from_tokens:
                    raise Unsupported(f"{layer.name}: an input neither the source side nor the tokens give")
            decoder.append((layer, others))
            from_tokens.update(id(t) for t in layer_outputs(layer))
        elif isinstance(layer, keras.layers.Concatenate):  # a bidirectional encoder's two states
            names[id(layer.output)] = g.op("Concat", [names[id(t)] for t in (first, *others)], axis=-1)
        elif others or id(first) not in names:
            raise Unsupported(f"{layer.name}: a source-side layer with several inputs")
        else:
            writer.x = names[id(first)]
            names.update(zip(map(id, layer_outputs(layer)), writer.write(layer)))
    token_ids = _decoding_loop(g, writer, source.name, decoder, names, vocab, max_len)
    # Tokens have no NaN: -1, which is no token's id, marks a row whose padding was not at the end.
    token_ids = writer.guarded(token_ids, 2, np.int32(-1))
    output = ("token_ids", TensorProto.INT32, [None, max_len])
    return finish_model(g, model.name, opset, source, output, token_ids), writer.notes()


class _SourceAttentionStep:
    """SourceAttention for one decoder step: what depends on the source alone (the keys, the mask) is
    written once, before the decoding loop; each turn scores its query against them."""

    def __init__(self, g, layer, values, padded):
        self.g, self.layer, self.values = g, layer, values
        if layer.score == "additive":  # W2 h_s, [batch, source, e]
            self.keys = g.op("MatMul", [values, g.const(float32(layer.value_kernel))])
        else:  # [batch, width, source]: h_s (dot) or W h_s (general), ready for query @ keys
            keys = values if layer.score == "dot" else \
                g.op("MatMul", [values, g.const(float32(layer.kernel).T)])
            self.keys = g.op("Transpose", [keys], perm=[0, 2, 1])
        # bool [batch, 1, source], true at the source's padded steps
        self.padded = None if padded is None else \
            g.op("Cast", [g.op("Unsqueeze", [padded, g.ints([1])])], to=TensorProto.BOOL)

    def context(self, query):
        """query [1, batch, d] -> the context [1, batch, e], as SourceAttention computes it."""
        g, layer = self.g, self.layer
        query = g.op("Transpose", [query], perm=[1, 0, 2])  # [batch, 1, d]
        if layer.score == "additive":
            projected = g.op("MatMul", [query, g.const(float32(layer.query_kernel))])
            hidden = g.op("Tanh", [g.op("Add", [projected, self.keys])])  # [batch, source, e]
            vector = g.const(float32(layer.vector)[:, None])
            scores = g.op("Transpose", [g.op("MatMul", [hidden, vector])], perm=[0, 2, 1])
        else:
            scores = g.op("MatMul", [query, self.keys])  # [batch, 1, source]
        if self.padded is not None:
            scores = g.op("Where", [self.padded, g.const(MASKED_SCORE), scores])
        weights = g.op("Softmax", [scores], axis=-1)
        return g.op("Transpose", [g.op("MatMul", [weights, self.values])], perm=[1, 0, 2])


def _decoding_loop(g, writer, source_name, decoder, names, vocab, max_len):
    """The ONNX Loop of greedy decoding: token ids [batch, max_len], padding after <eos>.

    The decoder: an Embedding, then recurrent layers started from the source side, SourceAttention over
    the encoder's steps, Concatenate and Dense layers, and last a softmax Dense over the tokens.
    """
    if len(decoder) < 3 or not isinstance(decoder[0][0], keras.layers.Embedding) \
            or not isinstance(decoder[-1][0], keras.layers.Dense):
        raise Unsupported("a decoder that is not Embedding, recurrent layers, Dense")
    embedding, (head, _) = decoder[0][0], decoder[-1]
    recurrent = [(layer, others) for layer, others in decoder if isinstance(layer, keras.layers.RNN)]
    for layer, states in recurrent:
        if layer.go_backwards or not states or any(id(s) not in names for s in states):
            raise Unsupported(f"{layer.name}: not a forward recurrent layer started from the source")
    attention = {}
    for layer, others in decoder[1:-1]:
        if isinstance(layer, SourceAttention):
            attention[id(layer)] = _SourceAttentionStep(g, layer, names[id(others[0])], writer.padded)
        elif not isinstance(layer, keras.layers.RNN | keras.layers.Concatenate | keras.layers.Dense):
            raise Unsupported(f"{layer.name}: a {type(layer).__name__} in the decoder")
    if head.activation is not keras.activations.softmax or not head.use_bias:
        raise Unsupported(f"{head.name}: the decoder's head must be a softmax with a bias")
    # Carried through the loop with a leading time axis of 1, the shape fused nodes read and write:
    # the last tokens [1, batch], which rows have ended [1, batch], each layer's states [1, batch, units].
    batch = g.op("Shape", [source_name], start=0, end=1)
    one_by_batch = g.op("Concat", [g.ints([1]), batch], axis=0)

    def filled(value):
        return g.op("ConstantOfShape", [one_by_batch], value=numpy_helper.from_array(np.array([value])))

    first_tokens, none_ended = filled(np.int32(vocab.id(vocab.BOS))), filled(False)
    initial_states = [g.op("Unsqueeze", [names[id(state)], g.ints([0])])
                      for _, states in recurrent for state in states]
    state_types = [(TensorProto.FLOAT, 3)] * len(initial_states)

    def step(_iteration, keep_going, last_tokens, ended, *states):
        # Keras tensor -> its ONNX name in this turn, each [1, batch, features]
        turn = {id(layer_outputs(embedding)[0]):
                g.op("Gather", [g.const(float32(embedding.embeddings), "embeddings"), last_tokens])}
        states, next_states = list(states), []
        for layer, others in decoder[1:-1]:
            x = turn[id(layer_inputs(layer)[0])]
            if isinstance(layer, keras.layers.RNN):
                carried = [states.pop(0) for _ in others]
                _, *finals = writer.recurrent_node([layer], x, initial_states=carried,
                                                   outputs=1 + len(carried))
                next_states += finals
                x = finals[0]  # [1, batch, units]: the next layer's one time step
            elif isinstance(layer, SourceAttention):
                x = attention[id(layer)].context(x)
            elif isinstance(layer, keras.layers.Concatenate):
                x = g.op("Concat", [turn[id(t)] for t in layer_inputs(layer)], axis=-1)
            else:
                x = writer._dense(layer, x)
            turn[id(layer_outputs(layer)[0])] = x
        x = turn[id(layer_inputs(head)[0])]
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
