"""How a model takes its data in (masked sequences) and gives its answer out (class or value)."""

import keras

from zoo.data import PAD_VALUE


def sequence_input(spec, embedding_dim, name):
    """An input of variable length whose padding is masked for every layer after it.

    Token ids: padding is id 0 and Embedding(mask_zero=True) masks it.
    Continuous steps: padding is PAD_VALUE; Masking skips it and Normalization scales the rest.
    """
    if spec.input_vocab_size is not None:
        inputs = keras.Input(shape=(None,), dtype="int32", name=name)
        x = keras.layers.Embedding(spec.input_vocab_size, embedding_dim, mask_zero=True, name="embed")(
            inputs
        )
        return inputs, x
    inputs = keras.Input(shape=(None, spec.num_features), name=name)
    x = keras.layers.Masking(mask_value=PAD_VALUE, name="mask_padding")(inputs)
    x = keras.layers.Normalization(
        mean=spec.feature_mean, variance=spec.feature_variance, name="normalize"
    )(x)
    return inputs, x


def prediction_head(x, spec, name):
    """Class probabilities, or values in the targets' own units (the model undoes their scaling)."""
    if spec.kind == "classification":
        return keras.layers.Dense(spec.num_outputs, activation="softmax", name=name)(x)
    x = keras.layers.Dense(spec.num_outputs, name=f"{name}_scaled")(x)
    return keras.layers.Rescaling(scale=spec.target_std, offset=spec.target_mean, name=name)(x)
