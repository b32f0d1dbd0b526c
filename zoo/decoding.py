"""Greedy decoding for the generating tasks (one_to_many, seq2seq) and its exact-match score.

Their Keras models are trained with teacher forcing: inputs [source, decoder_input] ->
a distribution over the next token at every step. Generation feeds back the argmax.
"""

import numpy as np

from zoo.data import PAD_ID


def greedy_decode(model, source, bos_id, eos_id, max_len, batch_size=512):
    """Token ids generated for each row of `source`, EOS included, PAD after it."""
    rows = len(source)
    tokens = np.full((rows, 1), bos_id, dtype="int32")
    finished = np.zeros(rows, dtype=bool)
    for _ in range(max_len):
        probabilities = model.predict([source, tokens], batch_size=batch_size, verbose=0)
        next_ids = probabilities[:, -1].argmax(axis=-1).astype("int32")
        next_ids[finished] = PAD_ID
        tokens = np.concatenate([tokens, next_ids[:, None]], axis=1)
        finished |= next_ids == eos_id
        if finished.all():
            break
    return tokens[:, 1:]


def _until_eos(ids, eos_id):
    ids = [int(i) for i in ids if i != PAD_ID]
    return ids[: ids.index(eos_id) + 1] if eos_id in ids else ids


def decoding_metrics(model, data):
    """Exact-sequence and per-token accuracy of greedy decoding on the test split.

    Token accuracy compares position by position over each target, its EOS included.
    """
    vocab = data.output_vocab
    eos_id = vocab.id(vocab.EOS)
    source = data.x_test[0]
    decoded = greedy_decode(model, source, vocab.id(vocab.BOS), eos_id, data.spec.max_output_len)
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
