"""ONNX graphs whose recurrent layers are fused RNN / GRU / LSTM nodes, written from the Keras weights.

tf2onnx turns GRU, SimpleRNN and every masked recurrent layer into a generic ONNX Loop, which ONNX
Runtime runs step by step. For models that are a chain of the layers below (the zoo's one_to_one,
many_to_one and tagging), this module writes the whole graph itself: the recurrent layers as ONNX's
own operators, with `sequence_lens` taken from the mask, and the few layers around them as plain ops.

The mask becomes lengths, which only describe right padding (real steps first). A row whose mask
has holes or leading padding would be computed wrongly, so the graph answers NaN for such a row
instead, and the server refuses it with a 400.
"""

import keras
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ONNX_OPS = {"SimpleRNN": "RNN", "GRU": "GRU", "LSTM": "LSTM"}
# A SimpleRNN runs as a fused RNN node while batch x units is at most this, as a Scan above it.
SIMPLE_RNN_FUSED_UP_TO = 256
# Keras keeps LSTM gates as input, forget, cell, output; ONNX wants input, output, forget, cell.
LSTM_GATE_ORDER = [0, 3, 1, 2]


class Unsupported(ValueError):
    """The model has a layer or setting this writer does not translate; tf2onnx converts it instead."""


class _Graph:
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


def _numpy(variable):
    return keras.ops.convert_to_numpy(variable).astype(np.float32)


def _direction_weights(layer):
    """ONNX W, R and B for one direction of a Keras SimpleRNN, GRU or LSTM layer."""
    cell = layer.cell
    kernel, recurrent = _numpy(cell.kernel).T, _numpy(cell.recurrent_kernel).T  # [gates*units, in]
    units = cell.units
    bias = _numpy(cell.bias) if cell.use_bias else np.zeros_like(kernel[:, 0])
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


class _Writer:
    """Walks the model's layers in order, keeping the current tensor and, once known, its mask."""

    def __init__(self, model):
        self.g = _Graph()
        (self.input,) = model.inputs
        self.x = self.input.name
        self.mask = None  # bool [batch, time] while the tensor is a masked sequence
        self.real = None  # the same as float 1/0, where a layer computed it that way
        self.lengths = None  # int32 [batch], real steps per row, once a fused node needs them
        self.right_padded = None  # bool [batch], False where the mask is not real-steps-first
        self.pad_value = None  # what marks a padded step of the input, where a layer masks it
        previous = self.input
        for layer in model.layers:
            if not isinstance(layer, keras.layers.InputLayer):
                # A layer that takes a mask lists it after its input; the mask is followed here anyway.
                inputs = layer.input if isinstance(layer.input, list) else [layer.input]
                if inputs[0] is not previous or any(t.dtype != "bool" for t in inputs[1:]):
                    raise Unsupported("a model that is not one chain of layers")
                previous = layer.output
            self.write(layer)

    def write(self, layer):
        g = self.g
        if isinstance(layer, keras.layers.InputLayer):
            return
        if isinstance(layer, keras.layers.Embedding):
            self.x = g.op("Gather", [g.const(_numpy(layer.embeddings), "embeddings"), self.x])
            if layer.mask_zero:
                self.pad_value = 0
                self.mask = g.op("Not", [g.op("Equal", [self.input.name, g.const(0, dtype=np.int32)])])
        elif isinstance(layer, keras.layers.Masking):
            self.pad_value = float(layer.mask_value)
            real = g.op("Not", [g.op("Equal", [self.x, g.const(layer.mask_value)])])
            self.real = g.op("ReduceMax", [g.op("Cast", [real], to=TensorProto.FLOAT)], axes=[-1], keepdims=0)
            self.mask = g.op("Cast", [self.real], to=TensorProto.BOOL)
            # Keras also zeroes the padded steps; no node here reads them, so the graph leaves them.
        elif isinstance(layer, keras.layers.Rescaling):
            self.x = g.op("Add", [g.op("Mul", [self.x, g.const(layer.scale)]), g.const(layer.offset)])
        elif isinstance(layer, keras.layers.Reshape):
            self.x = g.op("Reshape", [self.x, g.ints([-1, *layer.target_shape])])
        elif isinstance(layer, keras.layers.Dense):
            x = g.op("MatMul", [self.x, g.const(_numpy(layer.kernel))])
            if layer.use_bias:
                x = g.op("Add", [x, g.const(_numpy(layer.bias))])
            if layer.activation is keras.activations.softmax:
                x = g.op("Softmax", [x], axis=-1)
            elif layer.activation is not keras.activations.linear:
                raise Unsupported(f"{layer.name}: activation {layer.activation.__name__}")
            self.x = x
        elif isinstance(layer, keras.layers.Bidirectional):
            if layer.merge_mode != "concat":
                raise Unsupported(f"{layer.name}: merge mode {layer.merge_mode}")
            self._recurrent([layer.forward_layer, layer.backward_layer], layer.return_sequences)
        elif isinstance(layer, keras.layers.RNN):
            if layer.go_backwards:
                raise Unsupported(f"{layer.name}: go_backwards outside Bidirectional")
            self._recurrent([layer], layer.return_sequences)
        else:
            raise Unsupported(f"layer {type(layer).__name__}")

    def _sequence_lens(self):
        """The mask as ONNX sequence_lens (real steps per row), and the check that it is right padding."""
        if self.mask is None:
            return ""
        if self.lengths is not None:
            return self.lengths
        g = self.g
        real = self.real or g.op("Cast", [self.mask], to=TensorProto.FLOAT)  # 1 real step, 0 padding
        real_count = g.op("ReduceSum", [real, g.ints([1])], keepdims=0)
        self.lengths = g.op("Cast", [real_count], to=TensorProto.INT32)
        # Padding seen so far, at each step: a real step after any padding breaks right padding.
        padding_before = g.op("CumSum", [g.op("Sub", [g.const(1.0), real]), g.const(1, dtype=np.int64)])
        real_after_padding = g.op("ReduceMax", [g.op("Mul", [real, padding_before])], axes=[1], keepdims=0)
        self.right_padded = g.op("Equal", [real_after_padding, g.const(0.0)])
        return self.lengths

    def _recurrent(self, directions, return_sequences):
        for layer in directions:
            _check_cell(layer)
        if isinstance(directions[0], keras.layers.SimpleRNN):
            x = self._simple_rnn(directions, return_sequences)
        else:
            x = self._fused(directions, return_sequences)
        self.x = x
        if not return_sequences:
            self.mask = self.real = None

    def _simple_rnn(self, directions, return_sequences):
        """ONNX Runtime's fused RNN kernel is the fastest for few rows, but from batch x units > 256
        a Scan is faster (and both beat tf2onnx's Loop): an If picks one per call (make bench-export)."""
        g = self.g
        self._sequence_lens()  # made (and cached) outside the branches, which both read it
        batch = g.op("Squeeze", [g.op("Slice", [g.op("Shape", [self.x]), g.ints([0]), g.ints([1])])])
        most_rows = max(1, SIMPLE_RNN_FUSED_UP_TO // directions[0].cell.units)
        few_rows = g.op("LessOrEqual", [batch, g.ints(most_rows)])
        rank = 3 if return_sequences else 2
        fused = self._branch(lambda: self._fused(directions, return_sequences), rank)
        scan = self._branch(lambda: self._scan(directions, return_sequences), rank)
        return g.op("If", [few_rows], then_branch=fused, else_branch=scan)

    def _branch(self, build, rank):
        """The nodes `build` adds, as a subgraph for If; its constants stay in the outer graph."""
        g = self.g
        outer, g.nodes = g.nodes, []
        output = build()
        nodes, g.nodes = g.nodes, outer
        result = helper.make_tensor_value_info(g.fresh_name("branch"), TensorProto.FLOAT, [None] * rank)
        nodes.append(helper.make_node("Identity", [output], [result.name]))
        return helper.make_graph(nodes, result.name, [], [result])

    def _fused(self, directions, return_sequences):
        """The layer as one ONNX RNN / GRU / LSTM node, forward or bidirectional."""
        g = self.g
        weights = [_direction_weights(layer) for layer in directions]
        units = directions[0].cell.units
        direction = "forward" if len(directions) == 1 else "bidirectional"
        attributes = {"hidden_size": units, "direction": direction}
        if isinstance(directions[0], keras.layers.GRU):
            attributes["linear_before_reset"] = int(directions[0].cell.reset_after)
        w, r, b = (g.const(np.stack([d[i] for d in weights]), name) for i, name in enumerate("WRB"))
        time_major = g.op("Transpose", [self.x], perm=[1, 0, 2])
        op = ONNX_OPS[type(directions[0]).__name__]
        every_step, last = g.op(op, [time_major, w, r, b, self._sequence_lens()], outputs=2, **attributes)
        if not return_sequences:
            # [directions, batch, units] -> [batch, directions * units]: forward then backward, as Keras.
            return g.op("Reshape", [g.op("Transpose", [last], perm=[1, 0, 2]), g.ints([0, -1])])
        # [time, directions, batch, units] -> [batch, time, directions * units]
        steps = g.op("Reshape", [g.op("Transpose", [every_step], perm=[2, 0, 1, 3]), g.ints([0, 0, -1])])
        if self.mask is None or len(directions) == 2:
            return steps
        # Keras carries the last real output over padded steps; ONNX leaves zeros there.
        final = g.op("Transpose", [last], perm=[1, 0, 2])  # [batch, 1, units]
        return g.op("Where", [g.op("Unsqueeze", [self.mask, g.ints([-1])]), steps, final])

    def _scan(self, directions, return_sequences):
        """SimpleRNN as an ONNX Scan: the input projection of every step in one MatMul, then per step
        only h @ R + tanh, with the mask applied as Keras applies it."""
        g = self.g
        units = directions[0].cell.units
        zero_padded_outputs = len(directions) == 2  # Bidirectional zeroes padded steps' outputs
        batch = g.op("Slice", [g.op("Shape", [self.x]), g.ints([0]), g.ints([1])])
        initial = g.op("ConstantOfShape", [g.op("Concat", [batch, g.ints([units])], axis=0)],
                       value=numpy_helper.from_array(np.zeros(1, np.float32)))
        results = []
        for layer in directions:
            kernel, recurrent, bias = _direction_weights(layer)
            # Both biases go into the projection, once for all steps (Keras' SimpleRNN has one bias).
            bias = bias[:units] + bias[units:]
            projected = g.op("Add", [g.op("MatMul", [self.x, g.const(kernel.T)]), g.const(bias)])
            body = _simple_rnn_step(recurrent.T, self.mask is not None, zero_padded_outputs)
            scanned = [projected] + ([g.op("Unsqueeze", [self.mask, g.ints([-1])])]
                                     if self.mask is not None else [])
            backwards = int(layer.go_backwards)
            count = len(scanned)
            final, steps = g.op("Scan", [initial, *scanned], outputs=2, body=body, num_scan_inputs=count,
                                scan_input_axes=[1] * count, scan_input_directions=[backwards] * count,
                                scan_output_axes=[1], scan_output_directions=[backwards])
            results.append(steps if return_sequences else final)
        return results[0] if len(results) == 1 else g.op("Concat", results, axis=-1)

    def output(self, rank):
        """The final tensor (of `rank`), NaN in every row whose padding was not all after its real steps."""
        if self.right_padded is None:
            return self.x
        g = self.g
        per_row = g.op("Unsqueeze", [self.right_padded, g.ints(list(range(1, rank)))])
        return g.op("Where", [per_row, self.x, g.const(np.nan)])


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


def fused_onnx(model, opset):
    """(ONNX model, notes for metadata.json) for `model`; Unsupported if it has a layer not written here.

    Input and output names are the model's (the serving signature's), batch and time dynamic.
    The notes: right_padding_only (the graph reads the mask as lengths and answers NaN for rows
    padded otherwise) and pad_value (the input value that marks a padded step).
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise Unsupported("models with several inputs or outputs")
    writer = _Writer(model)
    (output_name,) = model.output_names
    g = writer.g
    (inputs,) = model.inputs
    (outputs,) = model.outputs
    g.nodes.append(helper.make_node("Identity", [writer.output(len(outputs.shape))], [output_name]))
    dtype = TensorProto.INT32 if "int" in str(inputs.dtype) else TensorProto.FLOAT
    graph = helper.make_graph(
        g.nodes, model.name, [helper.make_tensor_value_info(inputs.name, dtype, list(inputs.shape))],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, list(outputs.shape))], g.initializers)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                   producer_name="rnn-zoo")
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model, {"right_padding_only": writer.right_padded is not None, "pad_value": writer.pad_value}
