"""Greedy decoding and beam search for the generating tasks (one_to_many, seq2seq), their scores, and
what a decoder's attention (zoo.layers.SourceAttention) looked at while it generated.

Their Keras models are trained with teacher forcing: inputs [source, decoder_input] -> a distribution
over the next token at every step. Generation reads the source once (the Decoding's source model,
zoo.step) and feeds back the argmax one decoder step at a time (its step model), carrying the states.
The loop is written in TensorFlow ops so that exports run the very same decoding in-graph.
"""

import keras
import numpy as np
import tensorflow as tf

from zoo.data import PAD_ID, PAD_VALUE
from zoo.step import decoding_models


def _started(decoding, source):
    """(the decoder's starting states, the context it reads at every step) for a batch of sources."""
    outputs = decoding.source(source, training=False)
    # New tensors: Keras' mask attributes stay behind (the step takes the source's padding as an input).
    outputs = [tf.identity(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
    return outputs[: len(decoding.states)], outputs[len(decoding.states) :]


def _written(tokens, step, ids):
    """tokens [..., max_len] with `ids` [...] at `step`. Every tensor keeps its shape from turn to turn,
    which LiteRT's default (XNNPACK) delegate needs. (LiteRT has no strided slice that adds an axis:
    tf.expand_dims, not [..., None], inside the loops.)"""
    return tf.where(tf.range(tf.shape(tokens)[-1]) == step, tf.expand_dims(ids, -1), tokens)


def greedy_decode(decoding, source, bos_id, eos_id, max_len):
    """Token ids generated for each row of `source` by a Decoding (zoo.step.decoding_models): `max_len`
    of them, PAD after EOS. The source is read once; each turn is one decoder step from its states."""
    states, context = _started(decoding, source)
    rows = tf.shape(source)[0]
    last = tf.fill([rows, 1], tf.constant(bos_id, tf.int32))
    tokens = tf.fill([rows, max_len], tf.constant(PAD_ID, tf.int32))
    finished = tf.zeros([rows], tf.bool)
    for step in tf.range(max_len):
        probabilities, *states = decoding.step([last, *states, *context], training=False)
        next_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        next_ids = tf.where(finished, tf.constant(PAD_ID, tf.int32), next_ids)
        tokens = _written(tokens, step, next_ids)
        finished = finished | tf.equal(next_ids, eos_id)
        last = next_ids[:, None]
    return tokens


# GNMT's length penalty (Wu et al. 2016): a finished hypothesis ranks by its log-probability over
# ((5 + length) / 6) ** LENGTH_PENALTY, so that longer answers are not lost to their extra factors.
LENGTH_PENALTY = 0.6
_NEVER = -1e9  # the score of a hypothesis that must not be chosen (not -inf: -inf - -inf is NaN)


def beam_decode(decoding, source, bos_id, eos_id, max_len, width, length_penalty=LENGTH_PENALTY):
    """Token ids for each row of `source` by beam search over a Decoding's steps: `width` hypotheses
    kept at each step, each scored by its summed log-probability; the finished one of the best penalised
    score wins. `max_len` ids a row, PAD after EOS; width 1 is greedy decoding. Written in TensorFlow
    ops, as greedy_decode; `width` may be a tensor (the exports take it as an input)."""
    states, context = _started(decoding, source)
    rows = tf.shape(source)[0]
    # Row r's hypotheses are rows r * width ... r * width + width - 1 of the states and the context.
    states = [tf.repeat(s, width, axis=0) for s in states]
    context = [tf.repeat(c, width, axis=0) for c in context]
    last = tf.fill([rows * width, 1], tf.constant(bos_id, tf.int32))
    tokens = tf.fill([rows, width, max_len], tf.constant(PAD_ID, tf.int32))
    # At first every hypothesis is the same <bos>: only the first may grow, or the beam would hold copies.
    scores = tf.tile(tf.where(tf.range(width) == 0, 0.0, _NEVER)[None], [rows, 1])  # [rows, width]
    finished = tf.zeros([rows, width], tf.bool)
    lengths = tf.zeros([rows, width], tf.float32)
    for step in tf.range(max_len):
        probabilities, *states = decoding.step([last, *states, *context], training=False)
        vocabulary = tf.shape(probabilities)[-1]
        log_p = tf.reshape(tf.math.log(tf.maximum(probabilities, 1e-30)), [rows, width, vocabulary])
        # A finished hypothesis goes on with PAD alone, at no cost: it stays one candidate.
        pad_only = tf.where(tf.range(vocabulary) == PAD_ID, 0.0, _NEVER)
        log_p = tf.where(tf.expand_dims(finished, -1), pad_only, log_p)
        candidates = tf.reshape(tf.expand_dims(scores, -1) + log_p, [rows, width * vocabulary])
        scores, chosen = tf.math.top_k(candidates, k=width)
        parents, next_ids = chosen // vocabulary, tf.cast(chosen % vocabulary, tf.int32)
        finished = tf.gather(finished, parents, batch_dims=1)
        lengths = tf.gather(lengths, parents, batch_dims=1) + tf.cast(~finished, tf.float32)
        next_ids = tf.where(finished, tf.constant(PAD_ID, tf.int32), next_ids)
        finished = finished | tf.equal(next_ids, eos_id)
        tokens = _written(tf.gather(tokens, parents, batch_dims=1), step, next_ids)
        states = [tf.reshape(tf.gather(tf.reshape(s, [rows, width, s.shape[-1]]), parents, batch_dims=1),
                             [rows * width, s.shape[-1]]) for s in states]
        last = tf.reshape(next_ids, [rows * width, 1])
    penalised = scores / tf.pow((5.0 + lengths) / 6.0, length_penalty)
    best = tf.argmax(tf.where(finished, penalised, penalised + _NEVER), axis=-1, output_type=tf.int32)
    return tf.gather(tokens, best, batch_dims=1)


def decoder(model, vocab, max_len, beam=1):
    """greedy_decode (or beam_decode of width `beam`) of a trained generating model, as a tf.function of
    the source alone, ready to serve or export: its Decoding (zoo.step.decoding_models) shares the
    model's layers.

    Its input signature is the model's source input: name, dtype, dynamic batch (and time).
    """
    bos_id, eos_id = vocab.id(vocab.BOS), vocab.id(vocab.EOS)
    decoding = decoding_models(model)
    source = model.inputs[0]
    signature = [tf.TensorSpec(source.shape, source.dtype, name=source.name)]

    @tf.function(input_signature=signature)
    def decode(source):
        if beam > 1:
            return beam_decode(decoding, source, bos_id, eos_id, max_len, beam)
        return greedy_decode(decoding, source, bos_id, eos_id, max_len)

    return decode


def _until_eos(ids, eos_id):
    ids = [int(i) for i in ids if i != PAD_ID]
    return ids[: ids.index(eos_id) + 1] if eos_id in ids else ids


def edit_distance(a, b):
    """Levenshtein distance between two sequences: the fewest insertions, deletions and substitutions."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def decoding_scores(decode, source, targets, eos_id, batch_size=512, words=None):
    """Exact-sequence and per-token accuracy of `decode` (a `decoder(...)`) against `targets`, and the
    error rate: edit distance over target length (the character error rate of a character-level task,
    the word error rate of a word-level one). With `words` (the output vocabulary of a word-level task),
    also sacrebleu's corpus BLEU and chrF (0-100) of the generated sentences against the targets.

    Token accuracy compares position by position over each target, its EOS included.
    """
    decoded = np.concatenate([decode(source[i : i + batch_size]).numpy()
                              for i in range(0, len(source), batch_size)])
    exact, correct, total, errors, sentences = 0, 0, 0, 0, ([], [])
    for predicted, target in zip(decoded, targets):
        if words is not None:
            for side, ids in zip(sentences, (predicted, target)):
                side.append(" ".join(words.decode(ids)))
        predicted, target = _until_eos(predicted, eos_id), _until_eos(target, eos_id)
        exact += predicted == target
        correct += sum(p == t for p, t in zip(predicted, target))
        total += len(target)
        errors += edit_distance(predicted, target)
    scores = {
        "exact_match": exact / len(decoded),
        "decoded_token_accuracy": correct / total,
        "error_rate": errors / total,
    }
    if words is not None:
        import sacrebleu

        generated, references = sentences
        scores["bleu"] = sacrebleu.corpus_bleu(generated, [references]).score
        scores["chrf"] = sacrebleu.corpus_chrf(generated, [references]).score
    return scores


def _decoder_for(model, data, beam=1):
    return decoder(model, data.output_vocab, data.spec.max_output_len, beam=beam)


def decoding_metrics(model, data, beam=1):
    """decoding_scores on the test split (BLEU and chrF where the task generates words): greedy
    decoding's, and with `beam` > 1 beam search's beside them, each name prefixed `beam_`."""
    vocab = data.output_vocab
    words = vocab if (data.text or {}).get("join") == " " else None
    scores = {}
    for width in (1, beam) if beam > 1 else (1,):
        found = decoding_scores(_decoder_for(model, data, width), data.x_test[0], data.y_test,
                                vocab.id(vocab.EOS), words=words)
        scores.update({(f"beam_{name}" if width > 1 else name): value for name, value in found.items()})
    return scores


def attention_maps(model, data, rows=4):
    """What the decoder's attention weighed while greedy decoding generated each of the first `rows` test
    sources: [(source tokens, or numbers of frames or of a vector's chunks; generated tokens with <eos>;
    weights [generated, source])], or None for a model without attention."""
    if "attention" not in {layer.name for layer in model.layers}:
        return None
    layer, vocab = model.get_layer("attention"), data.output_vocab
    source = data.x_test[0][:rows]
    generated = _decoder_for(model, data)(source).numpy()
    read = np.concatenate([np.full((len(source), 1), vocab.id(vocab.BOS)), generated[:, :-1]], axis=1)
    query, values = keras.Model(model.inputs, layer.input)([source, read])
    # The real source steps: ids other than PAD_ID, frames of numbers not PAD_VALUE (numbered from 1), or
    # every chunk of a vector (one_to_many's; numbered too).
    if data.input_vocab or source.ndim == 3:
        real = source != PAD_ID if data.input_vocab else np.any(source != PAD_VALUE, axis=-1)
    else:
        real = np.ones(np.shape(values)[:2], bool)
    weights = np.asarray(layer.weights_over_source([query, values], [None, real]))
    maps = []
    for row, ids in enumerate(generated):
        ids = _until_eos(ids, vocab.id(vocab.EOS))
        steps = (
            [data.input_vocab.tokens[i] for i in source[row][real[row]]] if data.input_vocab
            else [str(t + 1) for t in range(int(real[row].sum()))]
        )
        maps.append((steps, [vocab.tokens[i] for i in ids], weights[row, : len(ids), : len(steps)]))
    return maps


def plot_attention(maps, png_path):
    """attention_maps as heat maps, one per source: generated tokens down, source tokens across."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(maps), figsize=(4.5 * len(maps), 4.5), squeeze=False)
    for axis, (source, generated, weights) in zip(axes[0], maps):
        axis.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
        axis.set_xticks(range(len(source)), source, rotation=90, fontsize=7)
        axis.set_yticks(range(len(generated)), generated, fontsize=7)
        axis.set(xlabel="source", ylabel="generated")
    figure.tight_layout()
    figure.savefig(png_path, dpi=90)
    plt.close(figure)


class ValidationExactMatch(keras.callbacks.Callback):
    """Adds `val_exact_match`, greedy decoding's score on the validation split, to each epoch's logs.

    Listed before Keras' History (which Keras appends last), so history and tuners see it.
    """

    def __init__(self, data):
        super().__init__()
        self.data = data

    def on_train_begin(self, logs=None):
        # Traced once per fit, not once per epoch: the weights change, the graph does not.
        self._decode = _decoder_for(self.model, self.data)

    def on_epoch_end(self, epoch, logs=None):
        vocab = self.data.output_vocab
        scores = decoding_scores(self._decode, self.data.x_val[0], self.data.y_val, vocab.id(vocab.EOS))
        if logs is not None:
            logs["val_exact_match"] = scores["exact_match"]
