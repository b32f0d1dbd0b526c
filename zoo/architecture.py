"""The recurrent part every task shares: which cell, how deep, how wide, one or two directions."""

import math
from collections.abc import Mapping
from dataclasses import dataclass

from zoo.attention import ATTENTION_SCORES
from zoo.errors import ZooError


class _CellLayers(Mapping):
    """Cell name -> its Keras layer class, imported on first use: reading the registry (rnn-zoo tasks,
    presets) needs no TensorFlow."""

    _CLASSES = {"simple_rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}

    def __getitem__(self, name):
        import keras

        return getattr(keras.layers, self._CLASSES[name])

    def __contains__(self, name):
        return name in self._CLASSES

    def __iter__(self):
        return iter(self._CLASSES)

    def __len__(self):
        return len(self._CLASSES)


CELLS = _CellLayers()


def require_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ZooError(f"{name} must be a positive integer, got {value!r}.")


# How a many_to_one model turns the top layer's steps into one answer: the last real step's state,
# the average over the real steps (which lets every step's gradient reach the output directly), or
# a learnt weighting of them (zoo.layers.AttentionPooling).
READOUTS = ("last", "mean", "attention")
# chunk="auto" (a training setting): chunks just wide enough that the longest training sequence takes
# at most this many recurrent steps.
AUTO_CHUNK_STEPS = 16
# units="auto" beside LSTM-FCN's convolutional branch over series longer than LONG_SERIES steps: there
# the convolutions read the shapes and a small recurrent branch the order of the chunks; a wide one
# learns the training series by heart within a few dozen epochs, and the branch beside it stops
# learning (5-fold cross-validation on the bundled archive sets: docs/pages/design/tasks.md).
AUTO_UNITS, AUTO_UNITS_BESIDE_FCN = 64, 16
LONG_SERIES = 64
# znorm="auto": each series by its own statistics where the training series' spreads (90th over 10th
# percentile, zoo.config.spread_ratio) differ by more than this. The training data's statistics then
# leave the quietest tenth of the series at a thousandth of the others' scale, flat to the network
# (PLAID, 125,000x: train accuracy 0.48 after 100 epochs); the archive's z-normalised sets are at 1, and
# BasicMotions (18.6), where per-series statistics measured lower, stays off.
AUTO_ZNORM_SPREAD = 1000
# The fields below `dropout` are read only by the tasks that list them in Task.architecture_options.
OPTIONAL_FIELDS = ("readout", "chunk", "front_end", "fcn", "squeeze_excite", "znorm", "characters",
                   "attention")
# How a decoder reads the encoder's steps: not at all (its final states only), or by SourceAttention.
ATTENTIONS = ("none", *ATTENTION_SCORES)
# How a many_to_one model makes `chunk` steps one: side by side (ChunkSteps), or a learnt strided
# convolution (zoo.layers.StridedConv1D).
FRONT_ENDS = ("chunk", "conv")


@dataclass(frozen=True)
class Architecture:
    """units: one hidden size for every layer, or one per layer (bottom first).

    readout: "last", "mean" or "attention" (many_to_one).
    chunk: how much of the input one recurrent step reads. For a sequence, that many consecutive
        steps side by side (a series of 150 steps becomes 15 steps of 10: fewer, wider steps that
        the gradient crosses more easily); for a vector, that many features (64 pixels become 8
        steps of 8, the image's rows). 0: one step per step, or the whole vector in one step.
    front_end: with chunk, how `chunk` steps become one: "chunk", side by side; "conv", a learnt strided
        convolution (width 2 x chunk, as many filters as the first layer has units; many_to_one).
    fcn: a fully convolutional branch beside the recurrent one, joined before the head (LSTM-FCN,
        Karim et al. 2018; many_to_one).
    squeeze_excite: the convolutional branch's first two blocks each rescale their filters by a gate
        read from the whole series (squeeze-and-excite, Hu et al. 2018, as MLSTM-FCN adds it for
        several channels: Karim et al. 2019); with fcn only.
    znorm: each series standardised by its own mean and spread per channel (z-normalisation), in
        place of the training data's statistics (many_to_one).
    characters: filters of a convolution over each word's characters, beside its embedding, so that a
        word the vocabulary does not know is still read by its spelling (zoo.layers.SpelledWords;
        tagging). 0: the word ids only.
    attention: "none", or how each decoder step scores the encoder's steps before reading their
        weighted mean beside its own output (zoo.layers.SourceAttention: "dot" or "general", Luong et
        al. 2015; "additive", Bahdanau et al. 2015; seq2seq, and one_to_many reading its vector in
        chunks).
    """

    cell: str = "lstm"
    bidirectional: bool = False
    layers: int = 1
    units: int | tuple = 64
    dropout: float = 0.0
    readout: str = "last"
    chunk: int = 0
    front_end: str = "chunk"
    fcn: bool = False
    squeeze_excite: bool = False
    znorm: bool = False
    characters: int = 0
    attention: str = "none"

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ZooError(f"Unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}.")
        require_positive_int("layers", self.layers)
        if isinstance(self.units, list | tuple):
            object.__setattr__(self, "units", tuple(self.units))
            if len(self.units) != self.layers:
                raise ZooError(f"units gives {len(self.units)} sizes for {self.layers} layers: "
                                 "give one size, or one per layer.")
            for size in self.units:
                require_positive_int("units", size)
        else:
            require_positive_int("units", self.units)
        if not 0.0 <= self.dropout < 1.0:
            raise ZooError(f"dropout must be in [0, 1), got {self.dropout!r}.")
        if self.readout not in READOUTS:
            raise ZooError(f"Unknown readout {self.readout!r}; choose one of {', '.join(READOUTS)}.")
        if self.chunk != 0:
            require_positive_int("chunk", self.chunk)
        if self.front_end not in FRONT_ENDS:
            raise ZooError(f"Unknown front_end {self.front_end!r}; choose one of {', '.join(FRONT_ENDS)}.")
        if self.characters != 0:
            require_positive_int("characters", self.characters)
        if self.attention not in ATTENTIONS:
            raise ZooError(f"Unknown attention {self.attention!r}; choose one of {', '.join(ATTENTIONS)}.")
        if self.squeeze_excite and not self.fcn:
            raise ZooError("squeeze_excite gates the convolutional branch's filters: it needs fcn.")

    def check_for(self, task):
        """Refuses a setting that `task`'s builder does not read (Task.architecture_options)."""
        for name in OPTIONAL_FIELDS:
            if name not in task.architecture_options and getattr(self, name) != DEFAULTS[name]:
                takes = ", ".join(task.architecture_options) or "none of them"
                raise ZooError(f"Task {task.name!r} takes no {name} (got {getattr(self, name)!r}); "
                               f"of {', '.join(OPTIONAL_FIELDS)} it takes {takes}.")
        return self

    @property
    def layer_units(self):
        """The hidden size of each layer, bottom first."""
        return self.units if isinstance(self.units, tuple) else (self.units,) * self.layers

    @property
    def state_count(self):
        """How many state tensors one direction of the cell carries (LSTM has h and c)."""
        return 2 if self.cell == "lstm" else 1


# Every field's default: a TrainConfig that leaves a field out gets the task's default, else this.
DEFAULTS = {name: spec.default for name, spec in Architecture.__dataclass_fields__.items()}


def auto_chunk(steps):
    """chunk="auto" for sequences of at most `steps` steps: 0 (none) up to AUTO_CHUNK_STEPS steps."""
    return 0 if steps <= AUTO_CHUNK_STEPS else math.ceil(steps / AUTO_CHUNK_STEPS)


def recurrent_layer(arch, units, name, return_sequences, return_state=False):
    return CELLS[arch.cell](
        units,
        dropout=arch.dropout,
        return_sequences=return_sequences,
        return_state=return_state,
        name=name,
    )


def recurrent_stack(x, arch, return_sequences, name="rnn"):
    """Stacks `arch.layers` recurrent layers; masks attached to `x` flow through all of them.

    Only the top layer decides whether the stack returns every step or the last one.
    """
    import keras

    for depth in range(arch.layers):
        keep_steps = return_sequences or depth < arch.layers - 1
        layer = recurrent_layer(arch, arch.layer_units[depth], f"{name}_{depth + 1}", keep_steps)
        if arch.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bi{name}_{depth + 1}")
        x = layer(x)
    return x


def encoder_stack(x, arch, name="encoder"):
    """A recurrent stack that also returns each layer's final states, to start a decoder.

    With `bidirectional`, forward and backward states are concatenated, so the decoder
    layer that takes them needs `decoder_units(arch, depth)` units.
    """
    import keras

    states_per_layer = []
    for depth in range(arch.layers):
        units = arch.layer_units[depth]
        layer = recurrent_layer(arch, units, f"{name}_{depth + 1}", True, return_state=True)
        if arch.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bi{name}_{depth + 1}")
            x, *states = layer(x)
            forward, backward = states[: arch.state_count], states[arch.state_count :]
            states = [
                keras.layers.Concatenate(name=f"{name}_{depth + 1}_state_{i}")([f, b])
                for i, (f, b) in enumerate(zip(forward, backward))
            ]
        else:
            x, *states = layer(x)
        states_per_layer.append(states)
    return x, states_per_layer


def decoder_units(arch, depth):
    """Units of decoder layer `depth`: those of the encoder layer whose states start it."""
    return arch.layer_units[depth] * (2 if arch.bidirectional else 1)


def decoder_stack(x, arch, initial_states, name="decoder", encoded=None):
    """A left-to-right stack started from `initial_states` (one list per layer).

    A decoder is never bidirectional: a backward pass would read the tokens it must predict. With
    `arch.attention` and the encoder's outputs `encoded`, each step's top output is joined with its
    context over the source steps and mixed by a tanh layer (Luong et al. 2015's attentional state).
    """
    import keras

    from zoo.layers import SourceAttention

    for depth, states in enumerate(initial_states):
        layer = recurrent_layer(arch, decoder_units(arch, depth), f"{name}_{depth + 1}", True)
        x = layer(x, initial_state=states)
    if arch.attention == "none":
        return x
    context = SourceAttention(arch.attention, name="attention")([x, encoded])
    joined = keras.layers.Concatenate(name="attention_joined")([x, context])
    return keras.layers.Dense(decoder_units(arch, len(initial_states) - 1), activation="tanh",
                              name="attentional")(joined)
