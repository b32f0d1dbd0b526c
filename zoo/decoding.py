"""Greedy decoding for the generating tasks (one_to_many, seq2seq) and its exact-match score.

Their Keras models are trained with teacher forcing: inputs [source, decoder_input] ->
a distribution over the next token at every step. Generation feeds back the argmax.
The loop is written in TensorFlow ops so that exports run the very same decoding in-graph.
"""

import numpy as np
import tensorflow as tf

from zoo.data import PAD_ID


def greedy_decode(model, source, bos_id, eos_id, max_len):
    """Token ids generated for each row of `source`: `max_len` of them, PAD after EOS."""
    rows = tf.shape(source)[0]
    tokens = tf.fill([rows, 1], tf.constant(bos_id, tf.int32))
    finished = tf.zeros([rows], tf.bool)
    for _ in tf.range(max_len):
        tf.autograph.experimental.set_loop_options(
            shape_invariants=[(tokens, tf.TensorShape([None, None]))]
        )
        probabilities = model([source, tokens], training=False)
        next_ids = tf.argmax(probabilities[:, -1], axis=-1, output_type=tf.int32)
        next_ids = tf.where(finished, tf.constant(PAD_ID, tf.int32), next_ids)
        tokens = tf.concat([tokens, next_ids[:, None]], axis=1)
        finished = finished | tf.equal(next_ids, eos_id)
    return tokens[:, 1:]


def decoder(model, vocab, max_len):
    """greedy_decode as a tf.function of the source alone, ready to serve or export.

    Its input signature is the model's source input: name, dtype, dynamic batch (and time).
    """
    bos_id, eos_id = vocab.id(vocab.BOS), vocab.id(vocab.EOS)
    source = model.inputs[0]
    signature = [tf.TensorSpec(source.shape, source.dtype, name=source.name)]

    @tf.function(input_signature=signature)
    def decode(source):
        return greedy_decode(model, source, bos_id, eos_id, max_len)

    return decode


def _until_eos(ids, eos_id):
    ids = [int(i) for i in ids if i != PAD_ID]
    return ids[: ids.index(eos_id) + 1] if eos_id in ids else ids


def decoding_metrics(model, data, batch_size=512):
    """Exact-sequence and per-token accuracy of greedy decoding on the test split.

    Token accuracy compares position by position over each target, its EOS included.
    """
    vocab = data.output_vocab
    eos_id = vocab.id(vocab.EOS)
    decode = decoder(model, vocab, data.spec.max_output_len)
    source = data.x_test[0]
    decoded = np.concatenate([decode(source[i : i + batch_size]).numpy()
                              for i in range(0, len(source), batch_size)])
    exact, correct, total = 0, 0, 0
    for predicted, target in zip(decoded, data.y_test):
        predicted, target = _until_eos(predicted, eos_id), _until_eos(target, eos_id)
        exact += predicted == target
        correct += sum(p == t for p, t in zip(predicted, target))
        total += len(target)
    return {
        "exact_match": exact / len(decoded),
        "decoded_token_accuracy": correct / total,
    }
