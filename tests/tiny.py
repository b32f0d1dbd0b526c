"""Tiny data specs and inputs for each task, to build and run models in milliseconds."""


from dataclasses import asdict

import keras

import zoo
from zoo.data import PAD_ID, PAD_VALUE, DataSpec

FEATURES, VOCAB, CLASSES, HORIZON = 3, 11, 5, 2


def continuous_spec(**extra):
    return DataSpec(kind="classification", num_outputs=CLASSES, num_features=FEATURES,
                    feature_mean=(0.0,) * FEATURES, feature_variance=(1.0,) * FEATURES, **extra)


def forecast_spec(**extra):
    return DataSpec(kind="regression", num_outputs=HORIZON, num_features=1, horizon=HORIZON, input_size=4,
                    quantiles=(0.1, 0.5, 0.9), season_length=3, **extra)


def token_spec(**extra):
    return DataSpec(kind="classification", num_outputs=CLASSES, input_vocab_size=VOCAB, **extra)


def _tokens(rng, batch, length):
    return rng.integers(1, VOCAB, size=(batch, length)).astype("int32")


def _next_tokens(rng, batch, length):
    return rng.integers(1, CLASSES, size=(batch, length)).astype("int32")


# task -> (spec, inputs(rng, batch, length), expected output shape(batch, length))
TINY = {
    "one_to_one": (
        continuous_spec(),
        lambda rng, b, t: rng.normal(size=(b, FEATURES)).astype("float32"),
        lambda b, t: (b, CLASSES),
    ),
    "one_to_many": (
        continuous_spec(max_output_len=4),
        lambda rng, b, t: [rng.normal(size=(b, FEATURES)).astype("float32"), _next_tokens(rng, b, t)],
        lambda b, t: (b, t, CLASSES),
    ),
    "many_to_one": (
        continuous_spec(),
        lambda rng, b, t: rng.normal(size=(b, t, FEATURES)).astype("float32"),
        lambda b, t: (b, CLASSES),
    ),
    "seq2seq": (
        token_spec(max_output_len=4),
        lambda rng, b, t: [_tokens(rng, b, t), _next_tokens(rng, b, t + 2)],
        lambda b, t: (b, t + 2, CLASSES),
    ),
    "tagging": (
        token_spec(),
        lambda rng, b, t: _tokens(rng, b, t),
        lambda b, t: (b, t, CLASSES),
    ),
    "forecasting": (
        forecast_spec(),
        lambda rng, b, t: 100 + rng.normal(size=(b, t, 1)).cumsum(axis=1).astype("float32"),
        lambda b, t: (b, HORIZON, 3),
    ),
}

OUTPUT_VOCABULARY = ["<pad>", "<bos>", "<eos>", *"abcdefghij"][:CLASSES]


def _contract(spec):
    return {"spec": asdict(spec), "output_vocabulary": OUTPUT_VOCABULARY, "labels": None}


def tiny_trained(task_name, rng, **architecture):
    """A model of the task fitted for one epoch on random data, and held-out inputs with padding."""
    spec, make_inputs, output_shape = TINY[task_name]
    # The same weights in every run: a generated token whose two likeliest ids differ by less than
    # float32 rounding can come out differently in another runtime, and would then flake.
    keras.utils.set_random_seed(int(rng.integers(2**31)))
    task = zoo.get_task(task_name)
    model = task.build_model(spec, units=4, **architecture)
    x = make_inputs(rng, 8, 6)
    y = rng.integers(1, CLASSES, size=output_shape(8, 6)[:-1])  # a class per output step
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    held_out = make_inputs(rng, 6, 7)
    source = held_out[0] if task.generates else held_out
    if source.ndim == 3:
        source[1, 4:] = PAD_VALUE
        source[2, 2:] = PAD_VALUE
    elif source.dtype.kind == "i":
        source[1, 4:] = PAD_ID
        source[2, 2:] = PAD_ID
    return task, model, _contract(spec), source
