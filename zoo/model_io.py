"""How a model takes its data in (masked sequences) and gives its answer out (class or value)."""

import keras
import numpy as np

from zoo.data import PAD_VALUE
from zoo.errors import ZooError
from zoo.layers import SeriesStandardize, SpelledWords


def sequence_input(spec, embedding_dim, name, znorm=False, characters=0):
    """An input of variable length whose padding is masked for every layer after it.

    Token ids: padding is id 0 and Embedding(mask_zero=True) masks it. Spelled tokens (spec.spelling):
    each step is a word's id and its characters' ids, read by zoo.layers.SpelledWords with a
    convolution of `characters` filters.
    Continuous steps: padding is PAD_VALUE; Masking skips it and the rest is standardised: by the
    training data's statistics, or with `znorm` each series by its own (zoo.layers.SeriesStandardize).
    """
    if spec.spelling:
        if not characters:
            raise ZooError("This data spells its words (spelled=True): give the convolution over their "
                           "characters its filters, CHARACTERS=N.")
        inputs = keras.Input(shape=(None, 1 + spec.spelling), dtype="int32", name=name)
        return inputs, SpelledWords(spec.input_vocab_size, embedding_dim, spec.character_vocab_size,
                                    characters, name="embed")(inputs)
    if spec.input_vocab_size is not None:
        inputs = keras.Input(shape=(None,), dtype="int32", name=name)
        x = keras.layers.Embedding(spec.input_vocab_size, embedding_dim, mask_zero=True, name="embed")(
            inputs
        )
        return inputs, x
    inputs = keras.Input(shape=(None, spec.num_features), name=name)
    x = keras.layers.Masking(mask_value=PAD_VALUE, name="mask_padding")(inputs)
    if znorm:
        return inputs, SeriesStandardize(name="znorm")(x)
    return inputs, standardize(x, spec)


def standardize(x, spec):
    """(x - mean) / std per feature, with the training statistics baked into the graph.

    A Rescaling layer rather than Normalization: Normalization keeps its statistics as eager
    tensors that tf2onnx leaves as unbound graph inputs; Rescaling's become ONNX constants.
    """
    std = np.sqrt(spec.feature_variance)
    scale, offset = 1.0 / std, -np.asarray(spec.feature_mean) / std
    return keras.layers.Rescaling(scale=scale.tolist(), offset=offset.tolist(), name="normalize")(x)


def prediction_head(x, spec, name):
    """Class probabilities, or values in the targets' own units (the model undoes their scaling)."""
    if spec.kind == "classification":
        return keras.layers.Dense(spec.num_outputs, activation="softmax", name=name)(x)
    x = keras.layers.Dense(spec.num_outputs, name=f"{name}_scaled")(x)
    return keras.layers.Rescaling(scale=spec.target_std, offset=spec.target_mean, name=name)(x)
