"""AUGMENT=jitter,scaling,slicing: each training batch's series changed at random, as Iwana & Uchida
(2021) survey for time-series classification: noise added to every step (jitter), each series' channels
scaled by their own factor (scaling), or a window of 90% of each series kept in place of the whole
(window slicing, Le Guennec et al. 2016; the models read any length, so the window is not stretched).

Only the model that is fitted reads them (training_model wraps it): the saved model, its exports and the
server never do. Padded steps stay padding, so masks, lengths and bucketing hold.
"""

import keras
from keras import ops

# Strengths from Iwana & Uchida's survey: noise of 0.03 and factors of sd 0.1 (here in each channel's
# training spread, around its training mean: the inputs are not yet standardised), windows of 90%.
AUGMENTATIONS = {"jitter": 0.03, "scaling": 0.1, "slicing": 0.9}


def parse_augment(text):
    """A comma-separated list of AUGMENTATIONS ('' or none: none)."""
    kinds = [] if text.strip().lower() in ("", "none", "0") else [k.strip() for k in text.split(",")]
    unknown = [k for k in kinds if k not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"unknown augmentation {unknown[0]!r}; choose from {', '.join(AUGMENTATIONS)}")
    return ",".join(kinds)


def training_model(model, kinds, spec, pad_value, seed):
    """`model` reading its input augmented by `kinds` (parse_augment's text) while it trains."""
    inputs = keras.Input(batch_shape=model.input.shape, dtype=model.input.dtype, name="augmented_input")
    augmented = SeriesAugment(kinds.split(","), spec.feature_mean, spec.feature_variance, pad_value,
                              seed=seed, name="augment")(inputs)
    return keras.Model(inputs, model(augmented), name=f"{model.name}_augmented")


class SeriesAugment(keras.layers.Layer):
    """Right-padded series [batch, time, channels] augmented in training, unchanged otherwise."""

    def __init__(self, kinds, mean, variance, pad_value, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.kinds, self.pad_value = list(kinds), float(pad_value)
        self.mean, self.variance = list(mean), list(variance)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training:
            return x
        real = ops.any(ops.not_equal(x, self.pad_value), axis=-1, keepdims=True)  # [batch, time, 1]
        mean, spread = ops.array(self.mean, x.dtype), ops.sqrt(ops.array(self.variance, x.dtype))
        y = x
        if "scaling" in self.kinds:
            factor = 1 + AUGMENTATIONS["scaling"] * keras.random.normal(
                (ops.shape(x)[0], 1, ops.shape(x)[2]), seed=self.generator)
            y = (y - mean) * factor + mean
        if "jitter" in self.kinds:
            y = y + AUGMENTATIONS["jitter"] * spread * keras.random.normal(ops.shape(x), seed=self.generator)
        y = ops.where(real, y, x)
        if "slicing" in self.kinds:
            y = self._slice(y, ops.cast(real[..., 0], "int32"))
        return y

    def _slice(self, x, real):
        """A window of each row's real steps, moved to its start; the rest padding."""
        steps = ops.shape(x)[1]
        lengths = ops.sum(real, axis=1)  # right-padded: the real steps come first
        width = ops.maximum(1, ops.cast(ops.ceil(AUGMENTATIONS["slicing"] * ops.cast(lengths, "float32")),
                                        "int32"))
        room = ops.cast(lengths - width + 1, "float32")
        start = ops.cast(keras.random.uniform(ops.shape(lengths), seed=self.generator) * room, "int32")
        position = ops.arange(steps, dtype="int32")[None, :]
        index = ops.minimum(position + start[:, None], steps - 1)[..., None]
        taken = ops.take_along_axis(x, ops.broadcast_to(index, ops.shape(x)), axis=1)
        return ops.where((position < width[:, None])[..., None], taken, self.pad_value)

    def get_config(self):
        return {**super().get_config(), "kinds": self.kinds, "mean": self.mean, "variance": self.variance,
                "pad_value": self.pad_value, "seed": self.seed}
