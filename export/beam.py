"""Beam search in the exports of a generating model trained with BEAM=k (its run scored the beam):
the SavedModel's `beam` signature, beam.onnx (tf2onnx's graph of it) and model.tflite's `beam`
signature, each taking the source and `beam_width` (an int32 scalar: the width is an input, the run's
k its default) and giving `token_ids` as zoo.decoding.beam_decode does, over the model's decoder step
(zoo.step). Each is checked to give Keras' tokens on the held-out examples before anything is
published.
"""

import numpy as np
import tensorflow as tf

from zoo.data import Vocabulary
from zoo.decoding import LENGTH_PENALTY, beam_decode
from zoo.step import decoding_models

SIGNATURE_NAME = "beam"  # in the SavedModel and model.tflite
ONNX_FILE = "beam.onnx"
WIDTH_INPUT = "beam_width"


def beam_function(model, contract):
    """A new tf.function (source, beam_width) -> {"token_ids": [batch, max_len]} of the model's beam
    search (new: a function traced inside export.litert's loops must not have been traced before)."""
    vocab = Vocabulary(tuple(contract["output_vocabulary"]))
    bos_id, eos_id = vocab.id(vocab.BOS), vocab.id(vocab.EOS)
    max_len = contract["spec"]["max_output_len"]
    decoding = decoding_models(model)
    source = model.inputs[0]

    @tf.function(input_signature=[tf.TensorSpec(source.shape, source.dtype, name=source.name),
                                  tf.TensorSpec([], tf.int32, name=WIDTH_INPUT)])
    def beam(source, width):
        return {"token_ids": beam_decode(decoding, source, bos_id, eos_id, max_len, width)}

    return beam


def with_width(batches, width, source_name):
    """The held-out batches as the beam signature takes them: {source: batch, beam_width: width}."""
    return [{source_name: batch, WIDTH_INPUT: np.array(width, np.int32)} for batch in batches]


def metadata(width, litert_signature, verification):
    return {
        "signature_name": SIGNATURE_NAME,
        "onnx": ONNX_FILE,
        "litert_signature": litert_signature,
        "width_input": WIDTH_INPUT,
        "default_width": width,
        "length_penalty": LENGTH_PENALTY,
        "outputs": ["token_ids"],
        "verification": verification,
    }
