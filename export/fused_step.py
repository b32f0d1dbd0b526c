"""step.onnx as fused nodes: the streaming step (zoo.step.step_model) written from the trained model's
layers, each recurrent layer one ONNX RNN / GRU / LSTM node over the one step, started from its state
inputs, its final states the new ones. tf2onnx writes each cell as a dozen small operators, whose
per-operator cost is most of a step's time at batch 1. Streaming falls back to tf2onnx where this
writer does not know a layer, and checks either one step at a time against the whole model.
"""

import keras
import onnx
from onnx import TensorProto, helper

from export.fused import Graph, LayerWriter, Unsupported, layer_inputs, layer_outputs, lowest_ir_version
from zoo.step import state_names


def fused_step_onnx(model, stepped, output_names, opset):
    """The ONNX model of `stepped` (zoo.step.step_model(model)), written from `model`'s layers: its inputs
    and their names (the step, then each state), its outputs named `output_names` (the answer, then each
    new state)."""
    source, *state_inputs = stepped.inputs
    g = Graph()
    writer = LayerWriter(g, model.inputs[0])
    tensors, states, new_states = {id(model.inputs[0]): source.name}, [], []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        inputs, outputs = layer_inputs(layer), layer_outputs(layer)
        if len(inputs) != 1 or len(outputs) != 1 or id(inputs[0]) not in tensors:
            raise Unsupported(f"{layer.name}: a step graph is one chain of layers")
        writer.x = tensors[id(inputs[0])]
        if isinstance(layer, keras.layers.RNN):
            writer.x = _recurrent_step(writer, layer, states, new_states)
        elif not isinstance(layer, keras.layers.Masking):  # a streamed step is a real one
            writer.write(layer)
        writer.padded = None  # nothing of a streamed step is padding
        tensors[id(outputs[0])] = writer.x
    if states != [s.name for s in state_inputs]:
        raise Unsupported(f"states {states}, the step model's {[s.name for s in state_inputs]}")
    results = [tensors[id(model.outputs[0])], *new_states]
    g.nodes += [helper.make_node("Identity", [r], [name]) for r, name in zip(results, output_names)]

    def value_info(name, tensor):
        kind = TensorProto.INT32 if "int" in str(tensor.dtype) else TensorProto.FLOAT
        return helper.make_tensor_value_info(name, kind, list(tensor.shape))

    graph = helper.make_graph(g.nodes, f"{model.name}_step",
                              [value_info(t.name, t) for t in stepped.inputs],
                              [value_info(n, t) for n, t in zip(output_names, stepped.outputs)],
                              g.initializers)
    onnx_model = lowest_ir_version(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                                     producer_name="rnn-zoo"))
    onnx.checker.check_model(onnx_model, full_check=True)
    return onnx_model


def _recurrent_step(writer, layer, states, new_states):
    """One recurrent layer on the writer's step ([batch, 1, features]) from its state inputs; returns its
    output ([batch, 1, units] where it returns sequences, else [batch, units])."""
    g, names = writer.g, state_names(layer)
    states += names
    initial = [g.op("Unsqueeze", [name, g.ints([0])]) for name in names]  # [1, batch, units]
    time_major = g.op("Transpose", [writer.x], perm=[1, 0, 2])
    _, *finals = writer.recurrent_node([layer], time_major, initial_states=initial, outputs=1 + len(names))
    new_states += [g.op("Squeeze", [final, g.ints([0])]) for final in finals]  # [batch, units]
    if layer.return_sequences:
        return g.op("Transpose", [finals[0]], perm=[1, 0, 2])  # [1, batch, units] -> [batch, 1, units]
    return new_states[-len(names)]
