"""ONNX graphs whose recurrent layers are fused RNN / GRU / LSTM nodes, written from the Keras weights.

tf2onnx turns GRU, SimpleRNN and every masked recurrent layer into a generic ONNX Loop, which ONNX
Runtime runs step by step. For models that are a chain of the layers below (the zoo's one_to_one,
many_to_one and tagging), this module writes the whole graph itself: the recurrent layers as ONNX's
own operators, with `sequence_lens` taken from the mask, and the few layers around them as plain ops.
export.fused_decoder builds the generating tasks' graphs from the same pieces.

The mask becomes lengths, which only describe right padding (real steps first). A row whose mask
has holes or leading padding would be computed wrongly, so the graph answers NaN for such a row
instead, and the server refuses it with a 400.
"""

import copy
import functools

import keras
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from zoo.layers import (
    MASKED_SCORE,
    SERIES_VARIANCE_FLOOR,
    AttentionPooling,
    ChunkSteps,
    MaskedConv1D,
    SeriesStandardize,
    SpelledWords,
    SqueezeExcite,
    StridedConv1D,
)

ONNX_OPS = {"SimpleRNN": "RNN", "GRU": "GRU", "LSTM": "LSTM"}
# A SimpleRNN runs as a fused RNN node while batch x units is at most this, as a Scan above it.
SIMPLE_RNN_FUSED_UP_TO = 256
# Keras keeps LSTM gates as input, forget, cell, output; ONNX wants input, output, forget, cell.
LSTM_GATE_ORDER = [0, 3, 1, 2]
# The padding column's weight, per gate in ONNX's order: the sigmoid of +-1e4 is 1 or 0 in float32,
# whatever else the gate adds up to (the inputs at padded steps are zeroed, the states are in [-1, 1]).
HOLD = 1.0e4
HOLD_GATES = {"GRU": [HOLD, 0.0, 0.0], "LSTM": [-HOLD, 0.0, HOLD, 0.0]}  # GRU: z, r, h; LSTM: i, o, f, c


class Unsupported(ValueError):
    """The model has a layer or setting this writer does not translate; tf2onnx converts it instead."""


class Graph:
    """The nodes and constants of one ONNX graph as it is written, with unique tensor names."""

    def __init__(self):
        self.nodes, self.initializers, self._count = [], [], 0

    def fresh_name(self, hint):
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, value, hint="const", dtype=np.float32):
        name = self.fresh_name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def ints(self, values):
        return self.const(values, "ints", dtype=np.int64)

    def op(self, op_type, inputs, outputs=1, **attributes):
        names = [self.fresh_name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, **attributes))
        return names[0] if outputs == 1 else names

    def subgraph(self, build, name, inputs, outputs):
        """The nodes and constants that `build(*input names)` adds, as a graph (an If branch, a Loop body).

        inputs and outputs: (ONNX type, rank) pairs; `build` returns the output names.
        """
        outer = self.nodes, self.initializers
        self.nodes, self.initializers = [], []
        try:
            inputs = [helper.make_tensor_value_info(self.fresh_name(name), kind, [None] * rank)
                      for kind, rank in inputs]
            results = build(*(i.name for i in inputs))
            outputs = [helper.make_tensor_value_info(self.fresh_name(name), kind, [None] * rank)
                       for kind, rank in outputs]
            self.nodes += [helper.make_node("Identity", [r], [o.name]) for r, o in zip(results, outputs)]
            return helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        finally:
            self.nodes, self.initializers = outer


def all_nodes(graph):
    """Every node of an ONNX graph, those of its subgraphs (If branches, Loop and Scan bodies) too."""
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                yield from all_nodes(attribute.g)


def float32(variable):
    """A Keras weight as a float32 numpy array."""
    return keras.ops.convert_to_numpy(variable).astype(np.float32)


def _direction_weights(layer):
    """ONNX W, R and B for one direction of a Keras SimpleRNN, GRU or LSTM layer."""
    cell = layer.cell
    kernel, recurrent = float32(cell.kernel).T, float32(cell.recurrent_kernel).T  # [gates*units, in]
    units = cell.units
    bias = float32(cell.bias) if cell.use_bias else np.zeros_like(kernel[:, 0])
    if isinstance(layer, keras.layers.LSTM):
        def reorder(matrix):
            return matrix.reshape(4, units, -1)[LSTM_GATE_ORDER].reshape(4 * units, -1)
        kernel, recurrent = reorder(kernel), reorder(recurrent)
        bias = np.concatenate([reorder(bias[:, None])[:, 0], np.zeros(4 * units, np.float32)])
    elif isinstance(layer, keras.layers.GRU) and cell.reset_after:
        bias = bias.reshape(-1)  # rows: input bias, recurrent bias, as ONNX's Wb then Rb
    else:
        bias = np.concatenate([bias.reshape(-1), np.zeros_like(bias.reshape(-1))])
    return kernel, recurrent, bias


def _check_cell(layer):
    cell = layer.cell
    kind = type(layer).__name__
    if kind not in ONNX_OPS:
        raise Unsupported(f"recurrent layer {kind}")
    if cell.activation is not keras.activations.tanh:
        raise Unsupported(f"{layer.name}: activation {cell.activation.__name__}")
    if kind != "SimpleRNN" and cell.recurrent_activation is not keras.activations.sigmoid:
        raise Unsupported(f"{layer.name}: recurrent activation {cell.recurrent_activation.__name__}")
    if layer.stateful or layer.unroll:
        raise Unsupported(f"{layer.name}: stateful or unrolled")


def layer_inputs(layer):
    """The Keras tensors a layer was called on: its input first, then any initial states.

    A layer that takes a mask lists it too; the mask is followed by LayerWriter instead, so it is left out.
    """
    inputs = layer.input if isinstance(layer.input, list) else [layer.input]
    return [inputs[0]] + [t for t in inputs[1:] if t.dtype != "bool"]


def layer_outputs(layer):
    return layer.output if isinstance(layer.output, list) else [layer.output]


class LayerWriter:
    """Writes layers one at a time, keeping the current tensor and, once known, its mask."""

    def __init__(self, graph, model_input, reads_lengths=False):
        self.g = graph
        self.input = model_input
        # GRU and LSTM nodes read the mask as sequence_lens (ONNX Runtime honours it; OpenVINO and
        # onnx.reference do not) instead of a hold column: the graph that export.quantize quantises,
        # where the hold column's +-1e4 weights would take every int8 scale.
        self.reads_lengths = reads_lengths
        self.x = model_input.name
        self.padded = None  # float [batch, time], 1 at padded steps, while the tensor is a masked sequence
        self.lengths = None  # int64 [batch], real steps per row, once a recurrent layer needs them
        self.mask_forms = {}  # the mask in the other shapes layers read, each made once (_mask_form)
        self.misplaced = None  # float [batch, 1], above 0 where a real step follows padding
        self.pad_value = None  # what marks a padded step of the input, where a layer masks it

    def write(self, layer):
        """Writes `layer` on the current tensor; returns the names of its outputs, in Keras' order."""
        g = self.g
        if isinstance(layer, keras.layers.Embedding):
            self.x = g.op("Gather", [g.const(float32(layer.embeddings), "embeddings"), self.x])
            if layer.mask_zero:
                self._padded_where_zero(self.input.name)
        elif isinstance(layer, SpelledWords):
            self._spelled_words(layer)
        elif isinstance(layer, keras.layers.Masking):
            self.pad_value = float(layer.mask_value)
            # A step is padding where every feature equals mask_value.
            padded_features = g.op("Equal", [self.x, g.const(layer.mask_value)])
            self.padded = g.op("ReduceMin", [g.op("Cast", [padded_features], to=TensorProto.FLOAT)],
                               axes=[-1], keepdims=0)
            # Zeroed, as Keras does: the recurrent nodes read every step, and mask_value may be huge.
            self._zero_padding()
        elif isinstance(layer, keras.layers.Rescaling):
            self.x = g.op("Add", [g.op("Mul", [self.x, g.const(layer.scale)]), g.const(layer.offset)])
        elif isinstance(layer, keras.layers.Reshape):
            self.x = g.op("Reshape", [self.x, g.ints([-1, *layer.target_shape])])
        elif isinstance(layer, keras.layers.Dense):
            self.x = self._dense(layer, self.x)
        elif isinstance(layer, ChunkSteps):
            self._chunk(layer.size, layer_inputs(layer)[0].shape[-1])
        elif isinstance(layer, StridedConv1D):
            self._strided_conv(layer)
        elif isinstance(layer, MaskedConv1D):
            self._conv(layer)
        elif isinstance(layer, keras.layers.BatchNormalization):
            # At inference, a per-feature scale and shift of the moving statistics.
            scale = float32(layer.gamma) / np.sqrt(float32(layer.moving_variance) + layer.epsilon)
            shift = float32(layer.beta) - float32(layer.moving_mean) * scale
            self.x = g.op("Add", [g.op("Mul", [self.x, g.const(scale)]), g.const(shift)])
        elif isinstance(layer, keras.layers.Activation) and layer.activation is keras.activations.relu:
            self.x = g.op("Relu", [self.x])
        elif isinstance(layer, keras.layers.GlobalAveragePooling1D):
            self._mean_over_steps()
        elif isinstance(layer, AttentionPooling):
            self._attention_pooling(layer)
        elif isinstance(layer, SeriesStandardize):
            self._series_standardize()
        elif isinstance(layer, SqueezeExcite):
            gate = self._dense(layer.excite, self._dense(layer.squeeze, self._masked_mean()))
            self.x = g.op("Mul", [self.x, g.op("Unsqueeze", [gate, g.ints([1])])])
        elif isinstance(layer, keras.layers.Bidirectional):
            if layer.merge_mode != "concat":
                raise Unsupported(f"{layer.name}: merge mode {layer.merge_mode}")
            return self._recurrent([layer.forward_layer, layer.backward_layer], layer.return_sequences,
                                   layer.return_state)
        elif isinstance(layer, keras.layers.RNN):
            if layer.go_backwards:
                raise Unsupported(f"{layer.name}: go_backwards outside Bidirectional")
            return self._recurrent([layer], layer.return_sequences, layer.return_state)
        else:
            raise Unsupported(f"layer {type(layer).__name__}")
        return [self.x]

    def fork(self):
        """A writer of its own for another branch read from the same tensor (its mask forms too)."""
        branch = copy.copy(self)
        branch.mask_forms = dict(self.mask_forms)
        return branch

    def join(self, branches, axis):
        """Concatenate (on `axis`): the branches' tensors side by side; Average (axis None): their mean (an
        ensemble's members, zoo.ensemble). A mask only where every branch still has it."""
        tensors = [branch.x for branch in branches]
        if axis is None:
            self.x = self.g.op("Div", [self.g.op("Sum", tensors), self.g.const(float(len(tensors)))])
        else:
            self.x = self.g.op("Concat", tensors, axis=axis)
        if any(branch.padded is None for branch in branches):
            self.padded, self.lengths, self.mask_forms = None, None, {}
        self.misplaced = next((b.misplaced for b in branches if b.misplaced is not None), None)

    def _zero_padding(self):
        """The current tensor with its padded steps set to 0, as Keras' Masking leaves them and as ChunkSteps
        and MaskedConv1D read them."""
        g = self.g
        self.x = g.op("Where", [self._mask_form("padded_steps"), g.const(0.0), self.x])

    def _spelled_words(self, layer):
        """SpelledWords: the word's embedding beside ONNX Conv over its characters' vectors ([batch, dim,
        steps, characters], a [1, width] kernel), zero after its last character, max-pooled over them."""
        g = self.g
        words = g.op("Gather", [self.x, g.const(0, dtype=np.int64)], axis=2)
        characters = g.op("Slice", [self.x, g.ints([1]), g.ints([np.iinfo(np.int64).max]), g.ints([2])])
        real = g.op("Unsqueeze", [g.op("Cast", [g.op("Greater", [characters, g.const(0, dtype=np.int32)])],
                                       to=TensorProto.FLOAT), g.ints([3])])
        table = g.const(float32(layer.characters.embeddings))
        vectors = g.op("Mul", [g.op("Gather", [table, characters]), real])
        conv = layer.conv
        (_, width) = conv.kernel_size
        kernel = np.transpose(float32(conv.kernel), (3, 2, 0, 1))  # [1, w, in, out] to [out, in, 1, w]
        inputs = [g.op("Transpose", [vectors], perm=[0, 3, 1, 2]), g.const(kernel),
                  g.const(float32(conv.bias))]
        filters = g.op("Relu", [g.op("Conv", inputs, kernel_shape=[1, width],
                                     pads=[0, (width - 1) // 2, 0, width // 2])])
        filters = g.op("Mul", [g.op("Transpose", [filters], perm=[0, 2, 3, 1]), real])
        spelling = g.op("ReduceMax", [filters], axes=[2], keepdims=0)
        embedded = g.op("Gather", [g.const(float32(layer.words.embeddings), "embeddings"), words])
        self.x = g.op("Concat", [embedded, spelling], axis=-1)
        self._padded_where_zero(words)

    def _padded_where_zero(self, ids):
        """The mask of token ids [batch, time]: a step is padding where its id is 0."""
        self.pad_value = 0
        self.padded = self.g.op("Cast", [self.g.op("Equal", [ids, self.g.const(0, dtype=np.int32)])],
                                to=TensorProto.FLOAT)

    def _conv(self, layer):
        """MaskedConv1D: padded steps zeroed, then ONNX Conv over [batch, features, time] with "same"
        padding as TensorFlow splits it (the odd one at the end)."""
        g = self.g
        if layer.strides != (1,) or layer.dilation_rate != (1,) or layer.groups != 1:
            raise Unsupported(f"{layer.name}: strides, dilation or groups")
        if layer.activation is not keras.activations.linear:
            raise Unsupported(f"{layer.name}: activation {layer.activation.__name__}")
        if self.padded is not None:
            self._zero_padding()
        (width,) = layer.kernel_size
        kernel = np.transpose(float32(layer.kernel), (2, 1, 0))  # [width, in, out] -> [out, in, width]
        inputs = [g.op("Transpose", [self.x], perm=[0, 2, 1]), g.const(kernel)]
        if layer.use_bias:
            inputs.append(g.const(float32(layer.bias)))
        conv = g.op("Conv", inputs, kernel_shape=[width], pads=[(width - 1) // 2, width // 2])
        self.x = g.op("Transpose", [conv], perm=[0, 2, 1])

    def _every(self, size, before=0):
        """Padded steps zeroed and the mask made every `size`-th step's (a new step is padding where its
        first step was); returns the tensor with `before` zero steps in front and the end filled up to a
        multiple of `size` with zeros."""
        g = self.g
        if self.padded is not None:
            self._lengths()  # the right-padding check, on the steps as they came in
            self._zero_padding()
            self.padded = g.op("Slice", [self.padded, g.ints([0]), g.ints([np.iinfo(np.int64).max]),
                                         g.ints([1]), g.ints([size])])
            self.lengths, self.mask_forms = None, {}
        steps = g.op("Shape", [self.x], start=1, end=2)
        past_last_chunk = g.op("Mod", [steps, g.ints([size])])
        fill = g.op("Mod", [g.op("Sub", [g.ints([size]), past_last_chunk]), g.ints([size])])
        pads = g.op("Concat", [g.ints([0, before, 0, 0]), fill, g.ints([0])], axis=0)  # begins, then ends
        return g.op("Pad", [self.x, pads])

    def _chunk(self, size, features):
        """ChunkSteps: [batch, time / size, size * features] of the steps filled up (_every)."""
        self.x = self.g.op("Reshape", [self._every(size), self.g.ints([0, -1, size * features])])

    def _strided_conv(self, layer):
        """StridedConv1D: ONNX Conv of stride `stride` over the steps with `stride` zeros in front and the
        end filled up (_every), as the layer pads them."""
        g = self.g
        padded = self._every(layer.stride, before=layer.stride)
        kernel = np.transpose(float32(layer.kernel), (2, 1, 0))  # [width, in, out] -> [out, in, width]
        inputs = [g.op("Transpose", [padded], perm=[0, 2, 1]), g.const(kernel)]
        if layer.use_bias:
            inputs.append(g.const(float32(layer.bias)))
        conv = g.op("Conv", inputs, kernel_shape=[2 * layer.stride], strides=[layer.stride])
        self.x = g.op("Transpose", [conv], perm=[0, 2, 1])

    def _dense(self, layer, x):
        """A Dense layer on tensor `x`: MatMul, the bias, the activation."""
        g = self.g
        x = g.op("MatMul", [x, g.const(float32(layer.kernel))])
        if layer.use_bias:
            x = g.op("Add", [x, g.const(float32(layer.bias))])
        activations = {keras.activations.softmax: ("Softmax", {"axis": -1}),
                       keras.activations.tanh: ("Tanh", {}), keras.activations.relu: ("Relu", {}),
                       keras.activations.sigmoid: ("Sigmoid", {})}
        if layer.activation in activations:
            op_type, attributes = activations[layer.activation]
            return g.op(op_type, [x], **attributes)
        if layer.activation is not keras.activations.linear:
            raise Unsupported(f"{layer.name}: activation {layer.activation.__name__}")
        return x

    def _masked_mean(self):
        """The current sequence's mean over its real steps, [batch, features] (zoo.layers.masked_mean:
        Keras divides by their count)."""
        g = self.g
        if self.padded is None:
            return g.op("ReduceMean", [self.x], axes=[1], keepdims=0)
        real = g.op("Sub", [g.const(1.0), self.padded])
        real_steps = g.op("Mul", [self.x, g.op("Unsqueeze", [real, g.ints([2])])])
        total = g.op("ReduceSum", [real_steps, g.ints([1])], keepdims=0)
        return g.op("Div", [total, g.op("ReduceSum", [real, g.ints([1])], keepdims=1)])

    def _series_standardize(self):
        """SeriesStandardize: each series less its mean over its real steps, over its spread; padded
        steps 0."""
        g = self.g

        def mean_over_steps(tensor):
            if real is None:
                return g.op("ReduceMean", [tensor], axes=[1], keepdims=1)
            total = g.op("ReduceSum", [g.op("Mul", [tensor, real]), g.ints([1])], keepdims=1)
            return g.op("Div", [total, count])

        real = None if self.padded is None else g.op("Sub", [g.const(1.0),
                                                            g.op("Unsqueeze", [self.padded, g.ints([2])])])
        count = real and g.op("Max", [g.op("ReduceSum", [real, g.ints([1])], keepdims=1), g.const(1.0)])
        centred = g.op("Sub", [self.x, mean_over_steps(self.x)])
        spread = g.op("Sqrt", [g.op("Add", [mean_over_steps(g.op("Mul", [centred, centred])),
                                           g.const(SERIES_VARIANCE_FLOOR)])])
        self.x = g.op("Div", [centred, spread])
        if real is not None:
            self.x = g.op("Mul", [self.x, real])

    def _mean_over_steps(self):
        """GlobalAveragePooling1D: the mean over the real steps, which ends the sequence (and its mask)."""
        self.x = self._masked_mean()
        self.padded = None

    def _attention_pooling(self, layer):
        """AttentionPooling: each step's score v . tanh(W h + b), a padded step's set to MASKED_SCORE as Keras
        sets it, the softmax over the steps, and the steps' sum weighted by it."""
        g = self.g
        hidden = g.op("Add", [g.op("MatMul", [self.x, g.const(float32(layer.kernel))]),
                              g.const(float32(layer.bias))])
        scores = g.op("MatMul", [g.op("Tanh", [hidden]), g.const(float32(layer.score))])  # [batch, time, 1]
        if self.padded is not None:
            scores = g.op("Where", [self._mask_form("padded_steps"), g.const(MASKED_SCORE), scores])
        weights = g.op("Softmax", [scores], axis=1)
        self.x = g.op("ReduceSum", [g.op("Mul", [weights, self.x]), g.ints([1])], keepdims=0)
        self.padded = None

    def _lengths(self):
        """The mask as real steps per row (int64 [batch]), and the check that it is right padding.

        Every node here runs on each call, so they are as few as the check allows (make bench-export).
        """
        if self.lengths is not None:
            return self.lengths
        g = self.g
        real = g.op("Sub", [g.const(1.0), self.padded])
        real_count = g.op("ReduceSum", [real, g.ints([1])], keepdims=0)
        self.lengths = g.op("Cast", [real_count], to=TensorProto.INT64)
        if self.misplaced is not None:  # checked on the steps before ChunkSteps made them wider
            return self.lengths
        # Padding seen so far, at each step: a real step after any padding breaks right padding.
        padding_before = g.op("CumSum", [self.padded, g.const(1, dtype=np.int64)])
        self.misplaced = g.op("ReduceMax", [g.op("Mul", [real, padding_before])], axes=[1], keepdims=1)
        return self.lengths

    def _mask_form(self, form):
        """The mask in one of the shapes the recurrent layers read, made once for all of them (every
        node here runs on each call):
        "padded": float [time, batch, 1], 1 at padded steps; "real": bool [time, batch, 1], true at
        real steps; "last_step": int64 [batch], each row's last real step (0 for a row with none);
        "padded_steps": bool [batch, time, 1], true at padded steps (for the batch-major tensor).
        A form first made inside an If branch is unknown outside it: _simple_rnn makes the ones its
        branches read before them.
        """
        if form not in self.mask_forms:
            g = self.g
            if form == "padded":
                made = g.op("Unsqueeze", [g.op("Transpose", [self.padded], perm=[1, 0]), g.ints([2])])
            elif form == "real":
                made = g.op("Equal", [self._mask_form("padded"), g.const(0.0)])
            elif form == "padded_steps":
                made = g.op("Cast", [g.op("Unsqueeze", [self.padded, g.ints([2])])], to=TensorProto.BOOL)
            else:
                made = g.op("Max", [g.op("Sub", [self._lengths(), g.ints(1)]), g.ints(0)])
            self.mask_forms[form] = made
        return self.mask_forms[form]

    def _to_rank(self, tensor, rank):
        """A [batch, n] tensor with 1s appended to its shape up to `rank`, to broadcast at that rank."""
        return tensor if rank == 2 else self.g.op("Unsqueeze", [tensor, self.g.ints(list(range(2, rank)))])

    def _recurrent(self, directions, return_sequences, return_state):
        """Writes a recurrent layer (both of its directions); returns its output, then its states if asked."""
        if isinstance(directions[0], keras.layers.SimpleRNN):
            outputs = self._simple_rnn(directions, return_sequences, return_state)
        else:
            outputs = self._fused(directions, return_sequences, return_state)
        if return_sequences:  # [time, batch, features] -> [batch, time, features]
            outputs[0] = self.g.op("Transpose", [outputs[0]], perm=[1, 0, 2])
        self.x = outputs[0]
        if not return_sequences:
            self.padded = None
        return outputs

    def _simple_rnn(self, directions, return_sequences, return_state):
        """ONNX Runtime's fused RNN kernel is the fastest for few rows, but from batch x units > 256
        a Scan is faster (and both beat tf2onnx's Loop): an If picks one per call (make bench-export).

        Every output of the If is rank 2, sequences as [time * batch, features]: OpenVINO 2026.4 reads
        a rank-3 If output that a wider Dense takes as zeros and garbage, silently.
        """
        g = self.g
        if self.padded is not None:  # made (and cached) outside the branches, which both read them
            for form in ("real", "last_step"):
                self._mask_form(form)
        width = directions[0].cell.units * len(directions)

        def branch(build):
            def flattened():
                outputs = build(directions, return_sequences, return_state)
                if return_sequences:
                    outputs[0] = g.op("Reshape", [outputs[0], g.ints([-1, width])])
                return outputs
            outputs = [(TensorProto.FLOAT, 2)] * (1 + (len(directions) if return_state else 0))
            return g.subgraph(flattened, build.__name__, [], outputs)

        most_rows = max(1, SIMPLE_RNN_FUSED_UP_TO // directions[0].cell.units)
        few_rows = g.op("LessOrEqual", [g.op("Shape", [self.x], start=0, end=1), g.ints([most_rows])])
        chosen = g.op("If", [few_rows], outputs=1 + (len(directions) if return_state else 0),
                      then_branch=branch(self._fused), else_branch=branch(self._scan))
        chosen = chosen if return_state else [chosen]
        if return_sequences:
            time_by_batch = g.op("Gather", [g.op("Shape", [self.x], start=0, end=2), g.ints([1, 0])])
            chosen[0] = g.op("Reshape", [chosen[0], g.op("Concat", [time_by_batch, g.ints([width])], axis=0)])
        return chosen

    def recurrent_node(self, directions, time_major, initial_states=(), outputs=2, hold_column=False,
                       lengths=()):
        """One ONNX RNN / GRU / LSTM node for the layer, forward or bidirectional; sequence_lens only where
        `lengths` gives it (int32 [batch]).

        hold_column: the input's last column is 1 at padded steps; its weights hold a GRU's or LSTM's state.
        Returns its `outputs` first outputs: Y [time, directions, batch, units], Y_h, and Y_c for LSTM.
        """
        for layer in directions:
            _check_cell(layer)
        weights = [_direction_weights(layer) for layer in directions]
        op = ONNX_OPS[type(directions[0]).__name__]
        if hold_column:
            units = directions[0].cell.units
            column = np.repeat(np.array(HOLD_GATES[op], np.float32), units)[:, None]
            weights = [(np.concatenate([kernel, column], axis=1), *rest) for kernel, *rest in weights]
        direction = "forward" if len(directions) == 1 else "bidirectional"
        attributes = {"hidden_size": directions[0].cell.units, "direction": direction}
        if isinstance(directions[0], keras.layers.GRU):
            attributes["linear_before_reset"] = int(directions[0].cell.reset_after)
        w, r, b = (self.g.const(np.stack([d[i] for d in weights]), name) for i, name in enumerate("WRB"))
        sequence_lens = lengths[0] if lengths else ""
        return self.g.op(op, [time_major, w, r, b, sequence_lens, *initial_states], outputs=outputs,
                         **attributes)

    def _fused(self, directions, return_sequences, return_state):
        """The layer as fused nodes: [its output, then each direction's states if return_state]."""
        g = self.g
        time_major = g.op("Transpose", [self.x], perm=[1, 0, 2])
        state_count = 2 if isinstance(directions[0], keras.layers.LSTM) else 1
        if self.padded is None:
            every_step, *finals = self.recurrent_node(directions, time_major,
                                                      outputs=1 + (state_count if return_state else 1))
            # [directions, batch, units] -> [batch, units] per direction, forward first, h then c (Keras).
            states = [g.op("Gather", [final, g.const(d, dtype=np.int64)], axis=0)
                      for d in range(len(directions)) for final in finals] if return_state else []
            if not return_sequences:
                # [directions, batch, units] -> [batch, directions * units]: forward then backward, as Keras.
                last = g.op("Reshape", [g.op("Transpose", [finals[0]], perm=[1, 0, 2]), g.ints([0, -1])])
                return [last, *states]
            # [time, directions, batch, units] -> [time, batch, directions * units]
            steps = g.op("Reshape", [g.op("Transpose", [every_step], perm=[0, 2, 1, 3]), g.ints([0, 0, -1])])
            return [steps, *states]
        lengths = self._lengths()
        # Each direction runs forward: the backward one over each row's real steps reversed, its
        # padding left where it was, and its outputs put back in order.
        reversed_rows = functools.partial(g.op, "ReverseSequence", batch_axis=1, time_axis=0)
        runs = [self._masked_direction(layer, time_major if d == 0 else reversed_rows([time_major, lengths]))
                for d, layer in enumerate(directions)]
        states = [state for _, finals in runs for state in finals[:state_count]] if return_state else []
        if not return_sequences:
            last = [finals[0] for _, finals in runs]
            return [last[0] if len(last) == 1 else g.op("Concat", last, axis=-1), *states]
        if len(directions) == 1:
            steps = runs[0][0]  # padded steps already carry the last real output, as in Keras
        else:  # Keras' Bidirectional answers zeros at padded steps
            backward = reversed_rows([runs[1][0], lengths])
            steps = g.op("Where", [self._mask_form("real"),
                                   g.op("Concat", [runs[0][0], backward], axis=-1), g.const(0.0)])
        return [steps, *states]

    def _masked_direction(self, layer, time_major):
        """One direction over right-padded steps, as Keras computes it with the mask.

        Returns (outputs [time, batch, units], with the last real one repeated over padding;
        [h, c for LSTM] at each row's last real step, each [batch, units]).
        """
        g = self.g
        holds = not isinstance(layer, keras.layers.SimpleRNN)
        lengths = []
        if holds and self.reads_lengths:  # the node stops at each row's length; its outputs after it are 0
            lengths = [g.op("Cast", [self._lengths()], to=TensorProto.INT32)]
        elif holds:
            time_major = g.op("Concat", [time_major, self._mask_form("padded")], axis=-1)
        every_step, *finals = self.recurrent_node([layer], time_major, hold_column=holds and not lengths,
                                                  outputs=3 if isinstance(layer, keras.layers.LSTM) else 2,
                                                  lengths=lengths)
        steps = g.op("Squeeze", [every_step, g.ints([1])])  # [time, batch, units]
        final_shape = g.op("Shape", [finals[0]])  # [1, batch, units]
        finals = [g.op("Squeeze", [final, g.ints([0])]) for final in finals]
        if isinstance(layer, keras.layers.GRU) and not lengths:
            return steps, finals  # a held GRU's outputs and state stop at the last real step
        # An LSTM holds its cell state but not its output, SimpleRNN neither: take h at the last real step.
        last_step = g.op("Unsqueeze", [self._mask_form("last_step"), g.ints([0, 2])])
        index = g.op("Expand", [last_step, final_shape])
        last = g.op("Squeeze", [g.op("GatherElements", [steps, index], axis=0), g.ints([0])])
        if not holds:  # a row with no real step: SimpleRNN's state stays the zeros it started from
            has_real_steps = g.op("Greater", [g.op("Unsqueeze", [self.lengths, g.ints([1])]), g.ints(0)])
            last = g.op("Where", [has_real_steps, last, g.const(0.0)])
        steps = g.op("Where", [self._mask_form("real"), steps, last])
        return steps, [last, *finals[1:]]

    def _scan(self, directions, return_sequences, return_state):
        """SimpleRNN as an ONNX Scan over time-major steps: the input projection of every step in one
        MatMul, then per step only h @ R + tanh, with the mask applied as Keras applies it."""
        g = self.g
        units = directions[0].cell.units
        zero_padded_outputs = len(directions) == 2  # Bidirectional zeroes padded steps' outputs
        batch = g.op("Shape", [self.x], start=0, end=1)
        initial = g.op("ConstantOfShape", [g.op("Concat", [batch, g.ints([units])], axis=0)],
                       value=numpy_helper.from_array(np.zeros(1, np.float32)))
        time_major = g.op("Transpose", [self.x], perm=[1, 0, 2])
        results, finals = [], []
        for layer in directions:
            kernel, recurrent, bias = _direction_weights(layer)
            # Both biases go into the projection, once for all steps (Keras' SimpleRNN has one bias).
            bias = bias[:units] + bias[units:]
            projected = g.op("Add", [g.op("MatMul", [time_major, g.const(kernel.T)]), g.const(bias)])
            body = _simple_rnn_step(recurrent.T, self.padded is not None, zero_padded_outputs)
            scanned = [projected] + ([self._mask_form("real")] if self.padded is not None else [])
            if layer.go_backwards:  # reversed here: onnx.reference's Scan runs forward only
                scanned = [self._reversed_in_time(tensor) for tensor in scanned]
            final, steps = g.op("Scan", [initial, *scanned], outputs=2, body=body,
                                num_scan_inputs=len(scanned))
            if layer.go_backwards:
                steps = self._reversed_in_time(steps)
            results.append(steps if return_sequences else final)
            finals.append(final)
        output = results[0] if len(results) == 1 else g.op("Concat", results, axis=-1)
        return [output, *finals] if return_state else [output]

    def _reversed_in_time(self, time_major):
        g = self.g
        return g.op("Slice", [time_major, g.ints([-1]), g.ints([np.iinfo(np.int64).min]), g.ints([0]),
                              g.ints([-1])])

    def guarded(self, tensor, rank, invalid):
        """`tensor` (of `rank`) with `invalid` (a numpy scalar of its dtype) in every row whose padding was
        not all after its real steps, once a fused node has read the mask as lengths."""
        if self.misplaced is None:
            return tensor
        g = self.g
        right_padded = g.op("Equal", [self._to_rank(self.misplaced, rank), g.const(0.0)])
        return g.op("Where", [right_padded, tensor, g.const(invalid, dtype=invalid.dtype)])

    def notes(self):
        """What metadata.json says of the graph's padding: right_padding_only and pad_value."""
        return {"right_padding_only": self.misplaced is not None, "pad_value": self.pad_value}


def _simple_rnn_step(recurrent, masked, zero_padded_outputs):
    """Scan body: (h, projected x_t[, mask_t]) -> (h', output_t)."""
    units = recurrent.shape[0]
    h = helper.make_tensor_value_info("h", TensorProto.FLOAT, [None, units])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, units])
    inputs = [h, x]
    nodes = [
        helper.make_node("MatMul", ["h", "R"], ["hR"]),
        helper.make_node("Add", ["x", "hR"], ["pre"]),
        helper.make_node("Tanh", ["pre"], ["new_h"]),
    ]
    if masked:
        inputs.append(helper.make_tensor_value_info("m", TensorProto.BOOL, [None, 1]))
        nodes.append(helper.make_node("Where", ["m", "new_h", "h"], ["next_h"]))
        if zero_padded_outputs:
            nodes.append(helper.make_node("Where", ["m", "next_h", "zero"], ["out"]))
        else:
            nodes.append(helper.make_node("Identity", ["next_h"], ["out"]))
    else:
        nodes += [helper.make_node("Identity", ["new_h"], [name]) for name in ("next_h", "out")]
    constants = [numpy_helper.from_array(recurrent.astype(np.float32), "R")]
    if masked and zero_padded_outputs:
        constants.append(numpy_helper.from_array(np.zeros(1, np.float32), "zero"))
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, units])
               for name in ("next_h", "out")]
    return helper.make_graph(nodes, "simple_rnn_step", inputs, outputs, constants)


def fused_onnx(model, opset, reads_lengths=False):
    """(ONNX model, notes for metadata.json) for `model`; Unsupported if it has a layer not written here.

    reads_lengths: GRU and LSTM nodes read sequence_lens instead of a hold column (LayerWriter), for
    ONNX Runtime alone.
    Input and output names are the model's (the serving signature's), batch and time dynamic.
    The notes: right_padding_only (the graph reads the mask as lengths and answers NaN for rows
    padded otherwise) and pad_value (the input value that marks a padded step).
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise Unsupported("models with several inputs or outputs")
    (inputs,) = model.inputs
    g = Graph()
    # Each tensor's writer: one chain of layers, or chains that fork from a tensor (each branch a writer
    # of its own) and join again in a Concatenate (LSTM-FCN's recurrent and convolutional ones) or an
    # Average (an ensemble's members).
    writers = {id(inputs): LayerWriter(g, inputs, reads_lengths)}
    readers = {}
    for layer in model.layers:
        for tensor in [] if isinstance(layer, keras.layers.InputLayer) else layer_inputs(layer):
            readers[id(tensor)] = readers.get(id(tensor), 0) + 1
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        sources, outputs = layer_inputs(layer), layer_outputs(layer)
        if any(id(tensor) not in writers for tensor in sources) or len(outputs) != 1:
            raise Unsupported("a model that is not chains of layers")
        (output,) = outputs
        if isinstance(layer, keras.layers.Concatenate | keras.layers.Average):
            writer = writers[id(sources[0])].fork()
            writer.join([writers[id(tensor)] for tensor in sources],
                        layer.axis if isinstance(layer, keras.layers.Concatenate) else None)
        elif len(sources) == 1:
            writer = writers[id(sources[0])]
            writer = writer.fork() if readers[id(sources[0])] > 1 else writer
            writer.write(layer)
        else:
            raise Unsupported(f"layer {type(layer).__name__} of several inputs")
        writers[id(output)] = writer
    (output_name,) = model.output_names
    (outputs,) = model.outputs
    writer = writers[id(outputs)]
    output = (output_name, TensorProto.FLOAT, list(outputs.shape))
    result = writer.guarded(writer.x, len(outputs.shape), np.float32(np.nan))
    return finish_model(g, model.name, opset, inputs, output, result), writer.notes()


def finish_model(g, name, opset, model_input, model_output, result):
    """The graph as a checked ONNX model: `model_input` (a Keras input) in, `result` out as
    `model_output` (name, ONNX type, shape)."""
    g.nodes.append(helper.make_node("Identity", [result], [model_output[0]]))
    input_type = TensorProto.INT32 if "int" in str(model_input.dtype) else TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes, name, [helper.make_tensor_value_info(model_input.name, input_type, list(model_input.shape))],
        [helper.make_tensor_value_info(*model_output)], g.initializers)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                   producer_name="rnn-zoo")
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def lowest_ir_version(onnx_model):
    """`onnx_model` stamped with the lowest IR version its opsets need: onnx stamps the newest it knows
    (14 with onnx 1.23), which older runtimes such as onnxruntime-node 1.30 refuse."""
    onnx_model.ir_version = onnx.helper.find_min_ir_version_for(list(onnx_model.opset_import),
                                                                ignore_unknown=True)
    return onnx_model


def tf2onnx_model(function, opset):
    """tf2onnx's graph of a tf.function with an input signature, at the lowest IR version it needs: what
    the export writes where no writer here knows the model."""
    import tf2onnx

    model, _ = tf2onnx.convert.from_function(function, input_signature=function.input_signature, opset=opset)
    return lowest_ir_version(model)
