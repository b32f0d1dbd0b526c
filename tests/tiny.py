"""Tiny data specs and inputs for each task, to build and run models in milliseconds."""


from zoo.data import DataSpec

FEATURES, VOCAB, CLASSES = 3, 11, 5


def continuous_spec(**extra):
    return DataSpec(kind="classification", num_outputs=CLASSES, num_features=FEATURES,
                    feature_mean=(0.0,) * FEATURES, feature_variance=(1.0,) * FEATURES, **extra)


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
}
