"""The step model of a trained sequence model: one step and the recurrent states in, that step's answer
and the new states out (darts' `forward(x, h)`, kws_streaming's streaming mode).

It is derived from the trained model itself, its graph replayed on one step with every layer shared: each
recurrent layer becomes one call of its own cell on the states it is given, and the layers around it,
which read one step at a time, run on that step. Fed a sequence step by step from zero
states, carrying the states, it answers at step t what the whole-sequence model answers for the first
t + 1 steps. A layer whose answer at a step reads other steps (a backward or bidirectional recurrent
layer, pooling or convolution over steps, a series' own statistics) cannot stream: `NotStreamable`
names it.
"""

import functools

import keras

from zoo.errors import ZooError
from zoo.layers import SpelledWords

# Layers that compute each step from that step alone.
PER_STEP = (keras.layers.Embedding, keras.layers.Dense, keras.layers.Rescaling, keras.layers.Dropout,
            keras.layers.Activation, SpelledWords)
# Each cell's states by name, in the order its call takes them.
STATE_NAMES = {"LSTM": ("h", "c")}


class NotStreamable(ZooError):
    """The model reads other steps than the current one to answer it; nothing steps it."""


def state_names(layer):
    """The names of one recurrent layer's state tensors, as the step model takes and gives them."""
    return [f"{layer.name}_{s}" for s in STATE_NAMES.get(type(layer).__name__, ("h",))]


class CellStep(keras.layers.Layer):
    """One step of a recurrent layer: its own cell (the same weights) on [batch, 1, features] and the
    states; returns the step's output ([batch, 1, units] where the layer returns sequences, else
    [batch, units]) and the new states."""

    def __init__(self, layer, **kwargs):
        super().__init__(name=f"{layer.name}_step", **kwargs)
        self.supports_masking = True  # takes the step's mask and reads nothing of it
        self.cell, self.return_sequences = layer.cell, layer.return_sequences

    def call(self, x, states, mask=None):  # a streamed step is real: its mask is not read
        output, new_states = self.cell(keras.ops.squeeze(x, 1), list(states), training=False)
        if self.return_sequences:
            output = keras.ops.expand_dims(output, 1)
        return output, list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]


def _recurrent_step(layer, x, state_inputs, state_outputs):
    if layer.go_backwards or layer.stateful or layer.return_state:
        raise NotStreamable(f"layer {layer.name!r} reads its steps backwards, keeps state between batches "
                            "or returns its states: only a plain left-to-right recurrent layer streams.")
    sizes = layer.cell.state_size
    sizes = sizes if isinstance(sizes, (list, tuple)) else [sizes]
    states = [keras.Input(shape=(size,), name=name) for size, name in zip(sizes, state_names(layer))]
    output, new_states = CellStep(layer)(x, states)
    state_inputs += states
    state_outputs += new_states
    return output


def step_model(model):
    """(step model, names of its state inputs in order) for a trained many_to_one, tagging or similar chain.

    The step model takes the model's sequence input with one step ([batch, 1, features], or [batch, 1]
    ids) and every recurrent layer's states ([batch, units] each, zeros at the start), bottom layer first;
    it answers the model's output for the sequence so far (its one step, for a per-step output), then
    the new states in the same order.
    Raises NotStreamable naming the first layer that reads other steps.
    """
    if len(model.inputs) != 1:
        raise NotStreamable(f"model {model.name!r} has {len(model.inputs)} inputs; a step model takes one "
                            "sequence input.")
    source = model.inputs[0]
    step = keras.Input(batch_shape=(None, 1, *source.shape[2:]), dtype=source.dtype, name=source.name)
    state_inputs, state_outputs = [], []

    def call(layer, *args, **kwargs):
        if isinstance(layer, keras.layers.Bidirectional):
            raise NotStreamable(f"layer {layer.name!r} is bidirectional: its backward half reads the steps "
                                "after each one, so the answer at a step needs the whole sequence. Train "
                                "with BIDIRECTIONAL=0 to stream.")
        if isinstance(layer, keras.layers.RNN):
            return _recurrent_step(layer, args[0], state_inputs, state_outputs)
        if isinstance(layer, keras.layers.Masking):
            return args[0]  # a streamed step is a real one
        # Operations that are not layers compute masks (Masking's not_equal and any over features); the
        # export checks every step against the whole sequence, which would show any other kind.
        if isinstance(layer, PER_STEP) or not isinstance(layer, keras.layers.Layer):
            return layer(*args, **kwargs)
        raise NotStreamable(f"layer {layer.name!r} ({type(layer).__name__}) reads other steps than the "
                            "current one, so the answer at a step needs the whole sequence.")

    # The graph replayed on the step, each operation through `call` (as keras.models.clone_model does;
    # clone_model itself would also make a model of the step input alone, which the states feed too).
    output = model._run_through_graph([step], operation_fn=lambda op: functools.partial(call, op))
    if not state_inputs:
        raise NotStreamable(f"model {model.name!r} has no recurrent layer to carry states.")
    stepped = keras.Model([step, *state_inputs], [output, *state_outputs], name=f"{model.name}_step")
    return stepped, [s.name for s in state_inputs]
