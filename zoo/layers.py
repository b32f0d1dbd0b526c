"""The zoo's own Keras layers: ChunkSteps, which makes a sequence fewer, wider steps; StridedConv1D,
a learnt alternative to it; MaskedConv1D, a convolution that never reads padding; SqueezeExcite,
gates on its filters; SeriesStandardize, z-normalisation per series; AttentionPooling, a readout that
weighs the real steps; SourceAttention, a decoder step's look over the encoder's steps (seq2seq);
SpelledWords, a word's embedding beside a convolution over its characters; and forecasting's
WindowScaler, LastSteps, QuantileOutput, PinballLoss and the distribution heads.

Registered with Keras, so model.keras files load where this module is imported (`import zoo.layers`;
of the project it reads only zoo.attention's names); export.fused writes ChunkSteps as plain ONNX
ops, and the SavedModel and LiteRT exports trace every layer like any Keras layer.

Window scaling (forecasting): each context window is read relative to its own last value, in units
of its own typical step. loc is the window's last observed value and scale the mean absolute change
between consecutive observed values (MASE's scale, read off the window). The network sees
(value - loc) / scale, so a series far above anything seen in training, or of another magnitude,
looks like the rest; its forecast is turned back into the series' units by the same loc and scale.
An output of 0 is the naive forecast. The same function weighs the training targets' loss
(zoo.windows), so every series counts alike whatever its units. Missing values are NaN or any value
at or below `missing_below` (the zoo's PAD_VALUE, as JSON has no NaN): they are left out of loc and
scale, read as 0 with an "observed" flag of 0, and so never change a forecast.
"""

import keras
import numpy as np
from keras import ops

from zoo.attention import ATTENTION_SCORES


@keras.saving.register_keras_serializable(package="rnn_zoo")
class ChunkSteps(keras.layers.Layer):
    """[batch, steps, features] -> [batch, ceil(steps / size), size * features].

    Each new step holds `size` consecutive steps side by side. The last one is filled up with zeros
    when `steps` is not a multiple of `size`. With a mask, padded steps are zeroed first, and a new
    step is masked when its first step was, that is, with right padding (the zoo's), when every step in
    it was; right padding stays right padding.
    """

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)
        self.supports_masking = True

    def _fill(self, steps):
        return (self.size - steps % self.size) % self.size

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = inputs * ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        fill = self._fill(ops.shape(inputs)[1])
        inputs = ops.pad(inputs, [[0, 0], [0, fill], [0, 0]])
        return ops.reshape(inputs, (ops.shape(inputs)[0], -1, self.size * inputs.shape[-1]))

    def compute_mask(self, inputs, mask=None):
        # A new step is real where its first step is: with right padding, where any step in it is.
        # (A strided slice, unlike padding to a multiple, also works while the model is being built.)
        return None if mask is None else mask[:, :: self.size]

    def compute_output_shape(self, input_shape):
        batch, steps, features = input_shape
        steps = None if steps is None else -(-steps // self.size)
        return batch, steps, self.size * features

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="rnn_zoo")
class MaskedConv1D(keras.layers.Conv1D):
    """Conv1D ("same" padding) that reads padded steps as zeros and passes the mask on.

    Right padding set to zero is what "same" padding adds past a sequence's end, so a padded and an
    unpadded sequence give the same outputs at every real step (those at padded steps are left to
    the mask: the layers after it skip them, and the next MaskedConv1D zeroes them again).
    """

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, padding="same", **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = inputs * ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        return super().call(inputs)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.pop("padding", None)
        return config


@keras.saving.register_keras_serializable(package="rnn_zoo")
class StridedConv1D(keras.layers.Conv1D):
    """A learnt front end in place of ChunkSteps: [batch, steps, features] -> [batch, ceil(steps /
    stride), filters], each new step a convolution of width 2 x stride over the `stride` steps it
    stands for and the `stride` before them (zeros before the first step and after the last).

    The same windows whatever the padding (zeros at padded steps, the end filled up to a multiple of
    the stride, as ChunkSteps fills it), so a padded and an unpadded series answer alike; a new step
    is masked where its first step was, as ChunkSteps masks it.
    """

    def __init__(self, filters, stride, **kwargs):
        kwargs.pop("kernel_size", None), kwargs.pop("strides", None), kwargs.pop("padding", None)
        super().__init__(filters, 2 * int(stride), strides=int(stride), padding="valid", **kwargs)
        self.stride = int(stride)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = inputs * ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        fill = (self.stride - ops.shape(inputs)[1] % self.stride) % self.stride
        padded = ops.pad(inputs, [[0, 0], [self.stride, fill], [0, 0]])
        # Padding by a computed amount leaves the features' count unknown to TensorFlow's trace, and
        # LiteRT's converter takes no convolution of unknown channels: they are restated.
        return super().call(ops.reshape(padded, (ops.shape(padded)[0], -1, inputs.shape[-1])))

    def compute_mask(self, inputs, mask=None):
        return None if mask is None else mask[:, :: self.stride]

    def compute_output_shape(self, input_shape):
        batch, steps, _ = input_shape
        return batch, None if steps is None else -(-steps // self.stride), self.filters

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}


@keras.saving.register_keras_serializable(package="rnn_zoo")
class MaskedBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization whose statistics leave out padded steps (as Keras' do with a mask) and, on
    several replicas, are those of the global batch, as one process has them: Keras synchronises only
    the statistics of unmasked inputs, so workers would each normalise by their own half batch."""

    def _moments(self, inputs, mask):
        if mask is None:
            return super()._moments(inputs, mask)
        import tensorflow as tf

        axes = self._reduction_axes
        weights = ops.broadcast_to(ops.cast(ops.expand_dims(mask, -1), inputs.dtype), ops.shape(inputs))
        context = tf.distribute.get_replica_context()

        def summed(*values):
            if context is None or context.num_replicas_in_sync == 1:
                return values
            return context.all_reduce(tf.distribute.ReduceOp.SUM, list(values))

        count, total = summed(ops.sum(weights, axes, keepdims=True),
                              ops.sum(inputs * weights, axes, keepdims=True))
        mean = total / (count + keras.backend.epsilon())
        (squares,) = summed(ops.sum(ops.square(inputs - mean) * weights, axes, keepdims=True))
        return ops.squeeze(mean), ops.squeeze(squares / (count + keras.backend.epsilon()))


# What a padded step's attention score is set to: far below any real step's, and finite (ONNX and LiteRT
# give the same softmax), so a padded step's weight is exactly 0 in float32.
MASKED_SCORE = -1e9


@keras.saving.register_keras_serializable(package="rnn_zoo")
class AttentionPooling(keras.layers.Layer):
    """[batch, steps, features] -> [batch, features]: the steps' weighted mean, each step's weight a
    softmax over the real steps of its learnt score v . tanh(W h + b) (feed-forward attention, Raffel &
    Ellis 2015; the readout of attention-based LSTM classifiers). Padded steps weigh exactly 0."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        features = input_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(features, features), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(features,), initializer="zeros")
        self.score = self.add_weight(name="score", shape=(features, 1), initializer="glorot_uniform")

    def weights_over_steps(self, inputs, mask=None):
        """[batch, steps, 1]: each step's weight (the softmax over the steps of the masked scores)."""
        scores = ops.matmul(ops.tanh(ops.matmul(inputs, self.kernel) + self.bias), self.score)
        if mask is not None:
            scores = ops.where(ops.expand_dims(mask, -1), scores, MASKED_SCORE)
        return ops.softmax(scores, axis=1)

    def call(self, inputs, mask=None):
        return ops.sum(self.weights_over_steps(inputs, mask) * inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return input_shape[0], input_shape[-1]


@keras.saving.register_keras_serializable(package="rnn_zoo")
class SourceAttention(keras.layers.Layer):
    """[decoder outputs [batch, t, d], encoder outputs [batch, s, e]] -> [batch, t, e]: each decoder
    step's context, the mean of the source steps weighed by a softmax of their scores over the real
    source steps (padded ones weigh exactly 0). The decoder's mask passes on."""

    def __init__(self, score="dot", **kwargs):
        super().__init__(**kwargs)
        if score not in ATTENTION_SCORES:
            raise ValueError(f"score={score!r}: one of {', '.join(ATTENTION_SCORES)}")
        self.score, self.supports_masking = score, True

    def build(self, input_shape):
        query, values = input_shape[0][-1], input_shape[1][-1]
        if self.score == "dot" and query != values:
            raise ValueError(f"dot attention needs decoder and encoder outputs of one width ({query} and "
                             f"{values})")
        if self.score == "general":
            self.kernel = self.add_weight(name="kernel", shape=(query, values), initializer="glorot_uniform")
        if self.score == "additive":
            self.query_kernel = self.add_weight(name="query_kernel", shape=(query, values),
                                                initializer="glorot_uniform")
            self.value_kernel = self.add_weight(name="value_kernel", shape=(values, values),
                                                initializer="glorot_uniform")
            self.vector = self.add_weight(name="vector", shape=(values,), initializer="glorot_uniform")

    def weights_over_source(self, inputs, mask=None):
        """[batch, t, s]: each decoder step's weights over the source steps."""
        query, values = inputs
        if self.score == "additive":
            hidden = ops.tanh(ops.expand_dims(ops.matmul(query, self.query_kernel), 2)
                              + ops.expand_dims(ops.matmul(values, self.value_kernel), 1))
            scores = ops.sum(hidden * self.vector, axis=-1)
        else:
            keys = values if self.score == "dot" else ops.matmul(values, ops.transpose(self.kernel))
            scores = ops.matmul(query, ops.transpose(keys, (0, 2, 1)))
        source_mask = None if mask is None else mask[1]
        if source_mask is not None:
            scores = ops.where(ops.expand_dims(source_mask, 1), scores, MASKED_SCORE)
        return ops.softmax(scores, axis=-1)

    def call(self, inputs, mask=None):
        return ops.matmul(self.weights_over_source(inputs, mask), inputs[1])

    def compute_mask(self, inputs, mask=None):
        return None if mask is None else mask[0]

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], input_shape[1][-1])

    def get_config(self):
        return {**super().get_config(), "score": self.score}


# Added to a series' variance before its square root: a constant series reads as zeros, not NaN.
SERIES_VARIANCE_FLOOR = 1e-8


@keras.saving.register_keras_serializable(package="rnn_zoo")
class SeriesStandardize(keras.layers.Layer):
    """Each series by its own mean and spread, per channel, over its real steps (z-normalisation, the
    UCR/UEA archive's convention: a series' level and scale say nothing of its class). Padded steps
    come out as 0; the mask passes on."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        real = (ops.ones_like(inputs[..., :1]) if mask is None
                else ops.expand_dims(ops.cast(mask, inputs.dtype), -1))
        count = ops.maximum(ops.sum(real, axis=1, keepdims=True), 1.0)
        mean = ops.sum(inputs * real, axis=1, keepdims=True) / count
        variance = ops.sum(ops.square(inputs - mean) * real, axis=1, keepdims=True) / count
        return (inputs - mean) / ops.sqrt(variance + SERIES_VARIANCE_FLOOR) * real


def masked_mean(inputs, mask):
    """[batch, steps, features] -> [batch, features]: the mean over the real steps, as Keras'
    GlobalAveragePooling1D takes it (the mask's sum divides)."""
    if mask is None:
        return ops.mean(inputs, axis=1)
    weights = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
    return ops.sum(inputs * weights, axis=1) / ops.sum(weights, axis=1)


@keras.saving.register_keras_serializable(package="rnn_zoo")
class SqueezeExcite(keras.layers.Layer):
    """Squeeze-and-excite (Hu et al. 2018) over a sequence: each filter scaled by a gate in (0, 1) read
    from the whole series, the mean over its real steps through a bottleneck of filters / `ratio` (ReLU)
    and a sigmoid. MLSTM-FCN's block (Karim et al. 2019). The mask passes on."""

    def __init__(self, ratio=16, **kwargs):
        super().__init__(**kwargs)
        self.ratio = int(ratio)
        self.supports_masking = True

    def build(self, input_shape):
        filters = input_shape[-1]
        hidden = max(1, filters // self.ratio)
        self.squeeze = keras.layers.Dense(hidden, activation="relu", name="squeeze")
        self.excite = keras.layers.Dense(filters, activation="sigmoid", name="excite")
        self.squeeze.build((input_shape[0], filters))
        self.excite.build((input_shape[0], hidden))

    def call(self, inputs, mask=None):
        gate = self.excite(self.squeeze(masked_mean(inputs, mask)))
        return inputs * ops.expand_dims(gate, 1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "ratio": self.ratio}


# SpelledWords: each character's vector, and how many characters one filter of the convolution reads.
CHARACTER_DIM, CHARACTER_WIDTH = 32, 3


@keras.saving.register_keras_serializable(package="rnn_zoo")
class SpelledWords(keras.layers.Layer):
    """[batch, steps, 1 + characters] int ids (a word's id, then its characters' ids, 0 after them;
    zoo.text.spelled) -> [batch, steps, dim + filters]: the word's embedding beside a convolution of
    `filters` over its characters (ReLU), the largest value of each filter over them. A word the
    vocabulary does not know (<unk>) still has its spelling: its suffixes tell its tag (the character
    CNN of Ma & Hovy 2016; Plank et al. 2016 use a character BiLSTM). Steps whose word id is 0 are masked.
    """

    def __init__(self, vocab_size, dim, character_vocab_size, filters, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.dim = int(vocab_size), int(dim)
        self.character_vocab_size, self.filters = int(character_vocab_size), int(filters)
        self.words = keras.layers.Embedding(self.vocab_size, self.dim, name="words")
        self.characters = keras.layers.Embedding(self.character_vocab_size, CHARACTER_DIM, name="characters")
        # A [1, width] kernel over [batch, steps, characters, dim]: each word's characters, word by word.
        self.conv = keras.layers.Conv2D(self.filters, (1, CHARACTER_WIDTH), padding="same", activation="relu",
                                        name="conv")

    def build(self, input_shape):
        batch, steps, slots = input_shape
        self.words.build((batch, steps))
        self.characters.build((batch, steps, slots - 1))
        self.conv.build((batch, steps, slots - 1, CHARACTER_DIM))

    def call(self, ids):
        characters = ids[..., 1:]
        # 0 after a word's last character, so that the convolution reads zeros there as it does before
        # its first; ReLU's outputs are >= 0, so zeros there never change a maximum.
        real = ops.expand_dims(ops.cast(characters > 0, self.compute_dtype), -1)
        spelling = ops.max(self.conv(self.characters(characters) * real) * real, axis=2)
        return ops.concatenate([self.words(ids[..., 0]), spelling], axis=-1)

    def compute_mask(self, ids, mask=None):
        return ops.not_equal(ids[..., 0], 0)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:2], self.dim + self.filters)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "dim": self.dim,
                "character_vocab_size": self.character_vocab_size, "filters": self.filters}


def observed(context, missing_below):
    """1.0 where the context holds a value, 0.0 where it is missing (NaN, or at most `missing_below`)."""
    known = ops.logical_and(ops.isfinite(context), ops.greater(context, missing_below))
    return ops.cast(known, context.dtype)


def window_scale(context, missing_below):
    """(loc, scale), each [batch, 1], of context windows [batch, steps] (NaN or <= missing_below: missing).

    scale falls back to the mean distance from loc where the window has no two consecutive values
    that differ, then to |loc|, then to 1: it is never 0.
    """
    context = ops.convert_to_tensor(context, dtype="float32")
    seen = observed(context, missing_below)
    values = ops.where(seen > 0, context, ops.zeros_like(context))
    steps = ops.shape(context)[1]
    # The last observed value: the highest position that holds one.
    position = ops.cast(ops.arange(steps), "float32")[None, :] + 1.0
    last = ops.max(seen * position, axis=1, keepdims=True)  # 0 where nothing is observed
    loc = ops.sum(values * ops.cast(ops.equal(position, last), values.dtype), axis=1, keepdims=True)
    pairs = seen[:, 1:] * seen[:, :-1]
    change = ops.sum(ops.abs(values[:, 1:] - values[:, :-1]) * pairs, axis=1, keepdims=True)
    change = change / ops.maximum(ops.sum(pairs, axis=1, keepdims=True), 1.0)
    spread = ops.sum(ops.abs(values - loc) * seen, axis=1, keepdims=True)
    spread = spread / ops.maximum(ops.sum(seen, axis=1, keepdims=True), 1.0)
    scale = ops.where(change > 0, change,
                      ops.where(spread > 0, spread, ops.where(ops.abs(loc) > 0, ops.abs(loc), 1.0)))
    return loc, scale


@keras.saving.register_keras_serializable(package="rnn_zoo")
class WindowScaler(keras.layers.Layer):
    """context [batch, steps, features] -> (steps [batch, steps, 2], loc [batch, 1], scale [batch, 1]).

    The series is the first feature. steps: its scaled value (0 where missing) and the observed flag.
    """

    def __init__(self, missing_below, **kwargs):
        super().__init__(**kwargs)
        self.missing_below = float(missing_below)

    def call(self, context):
        values = context[:, :, 0]
        seen = observed(values, self.missing_below)
        loc, scale = window_scale(values, self.missing_below)
        values = ops.where(seen > 0, values, ops.zeros_like(values))
        scaled = ops.clip((values - loc) / scale, -1e3, 1e3) * seen
        return ops.stack([scaled, seen], axis=-1), loc, scale

    def compute_output_spec(self, context):
        batch, steps = context.shape[:2]
        return (keras.KerasTensor((batch, steps, 2)), keras.KerasTensor((batch, 1)),
                keras.KerasTensor((batch, 1)))

    def get_config(self):
        return {**super().get_config(), "missing_below": self.missing_below}


@keras.saving.register_keras_serializable(package="rnn_zoo")
class LastSteps(keras.layers.Layer):
    """[batch, steps, features] -> [batch, size * features]: the last `size` steps side by side, zeros
    in front where there are fewer (a scaled step of zeros reads as missing)."""

    def __init__(self, size, **kwargs):
        super().__init__(**kwargs)
        self.size = int(size)

    def call(self, inputs):
        inputs = ops.pad(inputs, [[0, 0], [self.size, 0], [0, 0]])[:, -self.size:]
        return ops.reshape(inputs, (-1, self.size * inputs.shape[-1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.size * input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable(package="rnn_zoo")
class SeasonalNaive(keras.layers.Layer):
    """scaled steps [batch, steps, 2] -> [batch, horizon]: the seasonal naive path in the window's
    scaled units, each step the value one season before it (season 1: the last value, which is 0).
    A missing value there reads as 0 (the last value)."""

    def __init__(self, season, horizon, **kwargs):
        super().__init__(**kwargs)
        self.season, self.horizon = int(season), int(horizon)

    def call(self, steps):
        values = ops.pad(steps[:, :, 0], [[0, 0], [self.season, 0]])[:, -self.season:]
        return ops.take(values, np.arange(self.horizon) % self.season, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.horizon)

    def get_config(self):
        return {**super().get_config(), "season": self.season, "horizon": self.horizon}


@keras.saving.register_keras_serializable(package="rnn_zoo")
class QuantileOutput(keras.layers.Layer):
    """[raw [batch, horizon * quantiles], loc [batch, 1], scale [batch, 1], base [batch, horizon]] ->
    [batch, horizon, quantiles] in the series' units.

    The median is raw; each quantile above (below) it adds (subtracts) a softplus to the one before,
    so the quantiles are ordered by construction. `base` (the seasonal naive path) shifts them all.
    Everything is in units of the window's scale from its last value, turned back here.
    """

    def __init__(self, horizon, quantiles, **kwargs):
        super().__init__(**kwargs)
        self.horizon, self.quantiles = int(horizon), tuple(float(q) for q in quantiles)

    def call(self, inputs):
        raw, loc, scale, base = inputs
        raw = ops.reshape(raw, (-1, self.horizon, len(self.quantiles)))
        middle = self.quantiles.index(0.5)
        median = raw[:, :, middle:middle + 1] + ops.expand_dims(base, -1)
        above = median + ops.cumsum(ops.softplus(raw[:, :, middle + 1:]), axis=-1)
        below = median - ops.flip(ops.cumsum(ops.softplus(ops.flip(raw[:, :, :middle], -1)), axis=-1), -1)
        scaled = ops.concatenate([below, median, above], axis=-1)
        return ops.expand_dims(loc, -1) + ops.expand_dims(scale, -1) * scaled

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], self.horizon, len(self.quantiles))

    def get_config(self):
        return {**super().get_config(), "horizon": self.horizon, "quantiles": list(self.quantiles)}


@keras.saving.register_keras_serializable(package="rnn_zoo")
class DistributionOutput(keras.layers.Layer):
    """[raw [batch, horizon * 2], loc [batch, 1], scale [batch, 1], base [batch, horizon]] ->
    [batch, horizon, quantiles] in the series' units: a distribution head.

    Per step, raw holds a centre (added to `base`) and a spread (softplus, 1 at raw 0: an untrained
    head is one typical step wide); each quantile is centre + spread x `standard` (the standard
    distribution's quantile, zoo.quantiles.standard_quantiles), so they never cross.
    """

    def __init__(self, horizon, standard, **kwargs):
        super().__init__(**kwargs)
        self.horizon, self.standard = int(horizon), [float(k) for k in standard]

    def call(self, inputs):
        raw, loc, scale, base = inputs
        raw = ops.reshape(raw, (-1, self.horizon, 2))
        centre = raw[:, :, 0] + base
        spread = ops.softplus(raw[:, :, 1] + np.float32(np.log(np.e - 1)))
        scaled = centre[:, :, None] + spread[:, :, None] * np.asarray(self.standard, "float32")
        return ops.expand_dims(loc, -1) + ops.expand_dims(scale, -1) * scaled

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], self.horizon, len(self.standard))

    def get_config(self):
        return {**super().get_config(), "horizon": self.horizon, "standard": self.standard}


@keras.saving.register_keras_serializable(package="rnn_zoo")
class NegativeLogLikelihood(keras.losses.Loss):
    """A distribution head's loss, per target step: y_true [batch, horizon], y_pred its quantiles
    [batch, horizon, quantiles] (DistributionOutput), from which the centre (the median) and the spread
    are read back exactly. df: None for the normal, else the Student-t's degrees of freedom.
    Constants are left out; weights per step (zoo.windows) mask missing targets."""

    def __init__(self, standard, df=None, name="nll", **kwargs):
        super().__init__(name=name, **kwargs)
        self.standard, self.df = [float(k) for k in standard], None if df is None else float(df)

    def call(self, y_true, y_pred):
        middle = len(self.standard) // 2
        centre = y_pred[:, :, middle]
        spread = (y_pred[:, :, -1] - y_pred[:, :, 0]) / (self.standard[-1] - self.standard[0])
        spread = ops.maximum(spread, 1e-6)
        z = (ops.cast(y_true, y_pred.dtype) - centre) / spread
        if self.df is None:
            return ops.log(spread) + 0.5 * z ** 2
        return ops.log(spread) + 0.5 * (self.df + 1) * ops.log1p(z ** 2 / self.df)

    def get_config(self):
        return {**super().get_config(), "standard": self.standard, "df": self.df}


@keras.saving.register_keras_serializable(package="rnn_zoo")
class PinballLoss(keras.losses.Loss):
    """The quantile loss averaged over the quantiles, per target step: y_true [batch, horizon],
    y_pred [batch, horizon, quantiles]. Weights per step (zoo.windows) mask missing targets and
    divide by each window's scale."""

    def __init__(self, quantiles, name="pinball", **kwargs):
        super().__init__(name=name, **kwargs)
        self.quantiles = tuple(float(q) for q in quantiles)

    def call(self, y_true, y_pred):
        error = ops.expand_dims(ops.cast(y_true, y_pred.dtype), -1) - y_pred
        q = ops.convert_to_tensor(np.asarray(self.quantiles, "float32"))
        return ops.mean(ops.maximum(q * error, (q - 1.0) * error), axis=-1)

    def get_config(self):
        return {**super().get_config(), "quantiles": list(self.quantiles)}


@keras.saving.register_keras_serializable(package="rnn_zoo")
class Covariates(keras.layers.Layer):
    """[..., columns] -> the same standardised by the training rows' mean and std, 0 where missing
    (NaN, or at most `missing_below`): a missing covariate reads as its mean."""

    def __init__(self, mean, std, missing_below, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = [float(m) for m in mean], [float(s) for s in std]
        self.missing_below = float(missing_below)

    def call(self, inputs):
        seen = observed(inputs, self.missing_below)
        values = ops.where(seen > 0, inputs, ops.zeros_like(inputs))
        mean, std = np.asarray(self.mean, "float32"), np.asarray(self.std, "float32")
        return ops.clip((values - mean) / std, -1e3, 1e3) * seen

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std,
                "missing_below": self.missing_below}


@keras.saving.register_keras_serializable(package="rnn_zoo")
class CalendarFeatures(keras.layers.Layer):
    """[calendar [batch, cycles], context [batch, steps, ...]] -> (past [batch, steps, 2 cycles],
    future [batch, horizon, 2 cycles]): the sine and cosine of every context and forecast step's phase
    in each cycle (zoo.calendar), from the phase of the context's last step."""

    def __init__(self, periods, horizon, **kwargs):
        super().__init__(**kwargs)
        self.periods, self.horizon = [float(p) for p in periods], int(horizon)

    def _waves(self, calendar, offsets):
        angle = (ops.expand_dims(calendar, 1) + offsets[None, :, None]) * (
            2 * np.pi / np.asarray(self.periods, "float32"))
        return ops.concatenate([ops.sin(angle), ops.cos(angle)], axis=-1)

    def call(self, inputs):
        calendar, context = inputs
        steps = ops.shape(context)[1]
        before = ops.cast(ops.arange(steps), "float32") - ops.cast(steps - 1, "float32")
        after = np.arange(1, self.horizon + 1, dtype="float32")
        return self._waves(calendar, before), self._waves(calendar, after)

    def compute_output_spec(self, inputs):
        calendar, context = inputs
        width = 2 * len(self.periods)
        return (keras.KerasTensor((calendar.shape[0], context.shape[1], width)),
                keras.KerasTensor((calendar.shape[0], self.horizon, width)))

    def get_config(self):
        return {**super().get_config(), "periods": self.periods, "horizon": self.horizon}
