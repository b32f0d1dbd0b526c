"""The PyTorch twin of a one-layer Keras recurrent classifier, exported to ONNX by torch.onnx.export.

Same weights, copied in: the reference for what a graph with a fused RNN / GRU / LSTM node costs in
ONNX Runtime. PyTorch 2.13 cannot export a packed sequence (the TorchScript exporter fails in its
peephole pass, the torch.export one on the data-dependent lengths), so the twin reads every step:
for masked models it runs the same fused node, only without sequence_lens.
"""

import io
import warnings

import keras
import numpy as np
import torch

TORCH_CELLS = {"SimpleRNN": torch.nn.RNN, "GRU": torch.nn.GRU, "LSTM": torch.nn.LSTM}
# PyTorch orders GRU gates r, z, n; Keras z, r, h. LSTM gates (i, f, g/c, o) agree.
GRU_FROM_KERAS = [1, 0, 2]


def _numpy(variable):
    return keras.ops.convert_to_numpy(variable).astype(np.float32)


def _copy_recurrent(layer, module):
    cell = layer.cell
    kernel, recurrent = _numpy(cell.kernel).T, _numpy(cell.recurrent_kernel).T
    bias = _numpy(cell.bias).reshape(-1, kernel.shape[0])
    input_bias, recurrent_bias = bias[0], bias[1] if len(bias) == 2 else np.zeros_like(bias[0])
    if isinstance(layer, keras.layers.GRU):
        def reorder(array):
            return array.reshape(3, cell.units, *array.shape[1:])[GRU_FROM_KERAS].reshape(array.shape)
        kernel, recurrent = reorder(kernel), reorder(recurrent)
        input_bias, recurrent_bias = reorder(input_bias), reorder(recurrent_bias)
    with torch.no_grad():
        for name, value in (("weight_ih_l0", kernel), ("weight_hh_l0", recurrent),
                            ("bias_ih_l0", input_bias), ("bias_hh_l0", recurrent_bias)):
            getattr(module, name).copy_(torch.from_numpy(value))


class Twin(torch.nn.Module):
    """Rescaling, one recurrent layer, Dense with softmax: the Keras model's layers, in PyTorch."""

    def __init__(self, keras_model):
        super().__init__()
        layers = {type(layer).__name__: layer for layer in keras_model.layers}
        rescaling, dense = layers["Rescaling"], layers["Dense"]
        (recurrent,) = [layer for layer in keras_model.layers if type(layer).__name__ in TORCH_CELLS]
        self.register_buffer("scale", torch.tensor(np.asarray(rescaling.scale, np.float32)))
        self.register_buffer("offset", torch.tensor(np.asarray(rescaling.offset, np.float32)))
        self.rnn = TORCH_CELLS[type(recurrent).__name__](recurrent.cell.kernel.shape[0], recurrent.cell.units,
                                                         batch_first=True)
        _copy_recurrent(recurrent, self.rnn)
        self.head = torch.nn.Linear(*dense.kernel.shape)
        with torch.no_grad():
            self.head.weight.copy_(torch.from_numpy(_numpy(dense.kernel).T))
            self.head.bias.copy_(torch.from_numpy(_numpy(dense.bias)))

    def forward(self, x):
        _, state = self.rnn(x * self.scale + self.offset)
        last = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
        return torch.softmax(self.head(last[-1]), dim=-1)


def twin_onnx(keras_model, input_name, output_name, opset):
    """The twin's ONNX model as bytes, with dynamic batch and time."""
    buffer = io.BytesIO()
    example = torch.zeros(1, 3, keras_model.inputs[0].shape[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and batch-size notices
        torch.onnx.export(Twin(keras_model).eval(), (example,), buffer, input_names=[input_name],
                          output_names=[output_name], dynamic_axes={input_name: {0: "batch", 1: "time"}},
                          opset_version=opset, dynamo=False)
    return buffer.getvalue()
