"""The one function an export serves: the model's forward pass, or its greedy decoder.

Inputs keep the Keras input names; batch and time stay dynamic; outputs are named.
"""

import tensorflow as tf

from zoo.data import Vocabulary
from zoo.decoding import decoder
from zoo.quantiles import column_names, levels_of


def serving_function(model, contract, generates):
    """A tf.function with an input signature that returns a dict of named outputs."""
    if generates:
        vocab = Vocabulary(tuple(contract["output_vocabulary"]))
        decode = decoder(model, vocab, contract["spec"]["max_output_len"])

        @tf.function(input_signature=decode.input_signature)
        def generate(source):
            return {"token_ids": decode(source)}

        return generate
    (output_name,) = model.output_names
    quantiles = contract["spec"].get("quantiles")
    # A forecaster's [batch, horizon, quantiles] answers one named path per quantile: forecast, lo-80, ...
    names = column_names(levels_of(quantiles)) if quantiles else None

    @tf.function(input_signature=[tf.TensorSpec(i.shape, i.dtype, name=i.name) for i in model.inputs])
    def predict(*x):
        outputs = model(x[0] if len(x) == 1 else list(x), training=False)
        if names:
            return {name: outputs[:, :, i] for i, name in enumerate(names)}
        return {output_name: outputs}

    return predict


def describe_signature(function):
    """Names, dtypes and shapes (None where dynamic) of a serving function's inputs and outputs."""

    def spec(name, tensor_spec):
        return {"name": name, "dtype": tensor_spec.dtype.name, "shape": tensor_spec.shape.as_list()}

    concrete = function.get_concrete_function()
    outputs = concrete.structured_outputs
    return (
        [spec(s.name, s) for s in function.input_signature],
        [spec(name, tf.TensorSpec.from_tensor(t)) for name, t in sorted(outputs.items())],
    )
