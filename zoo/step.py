"""Step models of a trained model: one step and the recurrent states in, that step's answer and the new
states out (darts' `forward(x, h)`, kws_streaming's streaming mode, keras-io lstm_seq2seq's decoder).

Each is derived from the trained model itself, its graph replayed on one step with every layer shared:
each recurrent layer becomes one call of its own cell on the states it is given, and the layers around
it, which read one step at a time, run on that step.

- `step_model` (streaming): fed a sequence step by step from zero states, carrying the states, it
  answers at step t what the whole-sequence model answers for the first t + 1 steps. A layer whose
  answer at a step reads other steps (a backward or bidirectional recurrent layer, pooling or
  convolution over steps, a series' own statistics) cannot stream: `NotStreamable` names it.
- `decoding_models` (the generating tasks): the source model (what the decoder reads of the source:
  its layers' initial states and, for attention, the encoder's steps and their mask) and the decoder's
  step (the last token, the states and that context in; the next token's distribution and the new
  states out). Greedy decoding, beam search and the exports decode with them.
"""

from typing import NamedTuple

import keras

from zoo.errors import ZooError
from zoo.layers import SourceAttention, SpelledWords

# Layers that compute each step from that step alone.
PER_STEP = (keras.layers.Embedding, keras.layers.Dense, keras.layers.Rescaling, keras.layers.Dropout,
            keras.layers.Activation, keras.layers.Concatenate, SpelledWords)
# Layers whose each query step reads its own step and a context that stays the same at every step.
OVER_CONTEXT = (SourceAttention, keras.layers.Attention)
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

    def call(self, x, states, mask=None):  # a stepped step is real: its mask is not read
        output, new_states = self.cell(keras.ops.squeeze(x, 1), list(states), training=False)
        if self.return_sequences:
            output = keras.ops.expand_dims(output, 1)
        return output, list(new_states) if isinstance(new_states, (list, tuple)) else [new_states]

    def compute_mask(self, x, states, mask=None):
        return None  # a stepped step is real, and its states are fed back unmasked


def _nodes(model):
    """The model's calls of its operations, inputs first (the order Keras' own graph walk takes)."""
    by_depth = model._nodes_by_depth
    return [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]
            if node.operation and not node.is_input]


def _replayed(model, known, stepped):
    """The model's graph replayed from `known` (original Keras tensor id -> new tensor): every call that
    reads a tensor of the stepped input (ids in `stepped`) and nothing unknown runs again on one step.

    Returns (the new tensor of each original id, [(state inputs, new states) per recurrent layer]).
    A recurrent layer called with `initial_state` takes the tensors known for them; otherwise its states
    are new inputs named by state_names. Raises NotStreamable naming a layer that reads other steps.
    """
    known, stepped, recurrent = dict(known), set(stepped), []
    for node in _nodes(model):
        layer, inputs = node.operation, node.input_tensors
        if not any(id(x) in stepped for x in inputs) or any(id(x) not in known for x in inputs):
            continue
        args, kwargs = node.arguments.fill_in(known)
        # Keras passes masks along as attributes of the tensors, not as recorded inputs; a mask known
        # here (the source's padding, given to a decoder's step) is passed on by name.
        if getattr(layer, "_call_has_mask_arg", False) and node.arguments.args:
            masks = [getattr(x, "_keras_mask", None) for x in keras.tree.flatten(node.arguments.args[0])]
            if any(m is not None and id(m) in known for m in masks):
                kwargs["mask"] = [known.get(id(m)) if m is not None else None for m in masks]
        if isinstance(layer, keras.layers.Bidirectional):
            raise NotStreamable(f"layer {layer.name!r} is bidirectional: its backward half reads the steps "
                                "after each one, so the answer at a step needs the whole sequence. Train "
                                "with BIDIRECTIONAL=0 to stream.")
        if isinstance(layer, keras.layers.RNN):
            if layer.go_backwards or layer.stateful or layer.return_state:
                raise NotStreamable(f"layer {layer.name!r} reads its steps backwards, keeps state between "
                                    "batches or returns its states: only a plain left-to-right recurrent "
                                    "layer steps.")
            states = kwargs.get("initial_state")
            if states is None:
                sizes = layer.cell.state_size
                sizes = sizes if isinstance(sizes, (list, tuple)) else [sizes]
                states = [keras.Input(shape=(size,), name=name)
                          for size, name in zip(sizes, state_names(layer))]
            states = list(states) if isinstance(states, (list, tuple)) else [states]
            outputs, new_states = CellStep(layer)(args[0], states)
            recurrent.append((states, new_states))
        elif isinstance(layer, keras.layers.Masking):
            outputs = args[0]  # a stepped step is a real one
        elif isinstance(layer, OVER_CONTEXT) and len(inputs) > 1 and id(inputs[1]) not in stepped \
                and not kwargs.get("use_causal_mask"):
            outputs = layer(*args, **kwargs)  # the query is the step; the values are the context
        # Operations that are not layers compute masks (Masking's not_equal and any over features); the
        # exports check every step against the whole sequence, which would show any other kind.
        elif isinstance(layer, PER_STEP) or not isinstance(layer, keras.layers.Layer):
            outputs = layer(*args, **kwargs)
        else:
            raise NotStreamable(f"layer {layer.name!r} ({type(layer).__name__}) reads other steps than the "
                                "current one, so the answer at a step needs the whole sequence.")
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for original, new in zip(node.outputs, keras.tree.flatten(outputs)):
            known[id(original)] = new
            stepped.add(id(original))
    return known, recurrent


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
    known, recurrent = _replayed(model, {id(source): step}, {id(source)})
    if not recurrent:
        raise NotStreamable(f"model {model.name!r} has no recurrent layer to carry states.")
    state_inputs = [s for states, _ in recurrent for s in states]
    state_outputs = [s for _, new in recurrent for s in new]
    stepped = keras.Model([step, *state_inputs], [known[id(model.outputs[0])], *state_outputs],
                          name=f"{model.name}_step")
    return stepped, [s.name for s in state_inputs]


class Decoding(NamedTuple):
    """A generating model's decoding, in two models sharing its layers.

    source: the source -> [each decoder state's start ..., context ...] (context: what the decoder reads
    of the source at every step, e.g. the encoder's steps and their mask for attention).
    step: [the last token [batch, 1], the states ..., the context ...] -> [the next token's
    distribution [batch, vocabulary], the new states ...], states in `states`' order.
    """

    source: keras.Model
    step: keras.Model
    states: list


def decoding_models(model):
    """The Decoding of a trained generating model ([source, tokens so far] -> the next token's
    distribution at every step): its graph cut where the tokens' side reads the source's side.
    Raises NotStreamable naming a decoder layer that reads other steps of the tokens."""
    if len(model.inputs) != 2 or len(model.outputs) != 1:
        raise NotStreamable(f"model {model.name!r}: a generating model takes a source and the tokens so far "
                            "and gives one distribution a step.")
    source, tokens = model.inputs
    # What the tokens' side reads of the source's side, in the order it reads it; which of it starts a
    # recurrent layer's states.
    from_tokens, read, starts = {id(tokens)}, {}, {}
    for node in _nodes(model):
        if any(id(x) in from_tokens for x in node.input_tensors):
            read.update({id(x): x for x in node.input_tensors if id(x) not in from_tokens})
            from_tokens.update(id(x) for x in node.outputs)
            if isinstance(node.operation, keras.layers.RNN):
                started = keras.tree.flatten(node.arguments.kwargs.get("initial_state"))
                starts.update({id(x): name for x, name in zip(started, state_names(node.operation))})
    for x in list(read.values()):  # the padding of what it reads, which Keras does not record as read
        mask = getattr(x, "_keras_mask", None)
        if mask is not None and id(mask) not in from_tokens:
            read[id(mask)] = mask
    token = keras.Input(batch_shape=(None, 1), dtype=tokens.dtype, name=tokens.name)
    context = [x for key, x in read.items() if key not in starts]
    placeholders = {id(x): keras.Input(batch_shape=x.shape, dtype=x.dtype, name=f"context_{i}")
                    for i, x in enumerate(context)}
    placeholders.update({key: keras.Input(batch_shape=x.shape, dtype=x.dtype, name=starts[key])
                         for key, x in read.items() if key in starts})
    known, recurrent = _replayed(model, {id(tokens): token, **placeholders}, {id(tokens)})
    state_inputs = [s for states, _ in recurrent for s in states]
    started = {id(placeholders[key]): read[key] for key in starts}
    if not state_inputs or any(id(s) not in started for s in state_inputs):
        raise NotStreamable(f"model {model.name!r}: every decoder layer must start from the source's states.")
    distribution = keras.ops.squeeze(known[id(model.outputs[0])], 1)
    step = keras.Model([token, *state_inputs, *(placeholders[id(x)] for x in context)],
                       [distribution, *(s for _, new in recurrent for s in new)], name=f"{model.name}_step")
    source_model = keras.Model(source, [*(started[id(s)] for s in state_inputs), *context],
                               name=f"{model.name}_source")
    return Decoding(source_model, step, [s.name for s in state_inputs])
