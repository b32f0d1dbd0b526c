"""Training batches as a tf.data pipeline, with length bucketing where sequence lengths vary.

A data set's sequences arrive right-padded to its longest one; a recurrent layer then runs every
batch to that length, masked steps included. Bucketing trims each example to its own length,
groups examples of similar length (tf.data's `bucket_by_sequence_length`, boundaries at quantiles
of the lengths) and pads each batch only to its own longest row. The masks make the padding
invisible to the model, so only the batches' make-up changes, not what the model computes.

Which model inputs are right-padded sequences, and whether the target has one entry per step of
the last of them, are facts of the task (`Task.sequence_inputs`, `Task.target_per_step`). The
bucket an example goes to is decided by the length of the first sequence input (the one an
encoder reads). Tokens are padded with id 0 and continuous steps with PAD_VALUE (zoo.data).
"""

import numpy as np
import tensorflow as tf

from zoo.data import PAD_ID, PAD_VALUE

MAX_BUCKETS = 16
# An epoch needs about this many full batches per bucket for bucketing to pay: with fewer, the
# partly filled batch that every bucket ends an epoch with costs more than the padding saved.
BATCHES_PER_BUCKET = 4


def _pad_value(array):
    return PAD_VALUE if np.issubdtype(np.asarray(array).dtype, np.floating) else PAD_ID


def _padding(array):
    """The padding value of `array`, as a scalar of its own dtype (padded_batch wants the same type)."""
    return np.asarray(_pad_value(array), dtype=np.asarray(array).dtype)


def lengths(array):
    """Real steps of each row of a right-padded array: (examples, steps[, features]) -> (examples,)."""
    array = np.asarray(array)
    real = array != _pad_value(array)
    if real.ndim > 2:
        real = real.any(axis=tuple(range(2, real.ndim)))
    # Right padding: a row's length is one past its last real step.
    return np.where(real.any(axis=1), real.shape[1] - np.argmax(real[:, ::-1], axis=1), 0)


def _parts(x):
    if isinstance(x, dict):  # named inputs, in the model's order
        return list(x.values())
    return list(x) if isinstance(x, list | tuple) else [x]


def key_lengths(task, x):
    """The lengths bucketing groups by: those of the task's first sequence input (None: it reads none)."""
    if not task.sequence_inputs:
        return None
    return lengths(_parts(x)[task.sequence_inputs[0]])


def recurrent_steps(task, x, architecture):
    """How many steps the first recurrent layer runs: the padded width of the first sequence input,
    or a vector's features, over the chunk (zoo.layers.ChunkSteps) where there is one."""
    parts = _parts(x)
    width = parts[task.sequence_inputs[0]].shape[1] if task.sequence_inputs else parts[0].shape[-1]
    return -(-width // architecture.chunk) if architecture.chunk else width


def lengths_vary(task, x):
    """Whether bucketing can save anything: the task reads sequences and their lengths differ."""
    key = key_lengths(task, x)
    return key is not None and len(key) > 0 and key.min() != key.max()


def boundaries(key, batch_size):
    """Bucket boundaries at quantiles of `key`, as many buckets as the data fills (at most MAX_BUCKETS)."""
    buckets = int(np.clip(len(key) // (batch_size * BATCHES_PER_BUCKET), 1, MAX_BUCKETS))
    quantiles = np.quantile(key, np.arange(1, buckets) / buckets, method="higher")
    # bucket_by_sequence_length puts a length below boundary[i] into bucket i: a boundary one
    # past a quantile keeps the examples of exactly that length together.
    return sorted({int(q) + 1 for q in quantiles if key.min() < q + 1 <= key.max()})


def _trim(task, single):
    """An element's sequences cut to their lengths (and a per-step target to its input's)."""

    def trim(inputs, y, cut):
        parts = [inputs] if single else list(inputs)
        for n, i in enumerate(task.sequence_inputs):
            parts[i] = parts[i][: cut[n]]
        if task.target_per_step:
            y = y[: cut[-1]]
        return (parts[0] if single else tuple(parts)), y

    return trim


def dataset(task, x, y, batch_size, seed, bucketing, shuffle=True):
    """(x, y) batches for Model.fit; `bucketing` groups examples by length and pads per batch.

    Without bucketing, batches are padded as the arrays are: to the data set's longest sequence.
    The order is the seed's, reshuffled every epoch; every worker of a distributed run builds the
    same sequence of (global) batches and reads its own share of each.
    """
    parts = _parts(x)
    single = not isinstance(x, list | tuple)
    inputs = parts[0] if single else tuple(parts)
    # With bucketing, each example's lengths ride along (as `lengths` finds them), to trim it by.
    cut = tuple(lengths(parts[i]) for i in task.sequence_inputs) if bucketing else None
    elements = tf.data.Dataset.from_tensor_slices((inputs, y, cut) if bucketing else (inputs, y))
    if shuffle:
        elements = elements.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    if not bucketing:
        batches = elements.batch(batch_size)
    else:
        bounds = boundaries(cut[0], batch_size)
        # A bucket's batches depend on how many examples it holds, not on their order.
        in_bucket = np.bincount(np.searchsorted(bounds, cut[0], side="right"), minlength=len(bounds) + 1)
        count = int(np.sum(-(-in_bucket // batch_size)))
        first = task.sequence_inputs[0]
        batches = elements.map(_trim(task, single)).bucket_by_sequence_length(
            element_length_func=lambda inputs, _: tf.shape(inputs if single else inputs[first])[0],
            bucket_boundaries=bounds,
            bucket_batch_sizes=[batch_size] * (len(bounds) + 1),
            padding_values=((_padding(parts[0]) if single else tuple(_padding(p) for p in parts)),
                            np.zeros((), np.asarray(y).dtype)),
        ).apply(tf.data.experimental.assert_cardinality(count))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.deterministic = True
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)


def padding(task, x, batches):
    """The share of the steps a recurrent encoder runs that are padding, over one pass of `batches`
    (bucketed) and with every batch padded to the data set's longest sequence (not bucketed)."""
    key = key_lengths(task, x)
    first = task.sequence_inputs[0]
    computed = 0
    for inputs, _ in batches:
        shape = (inputs if not isinstance(inputs, tuple) else inputs[first]).shape
        computed += shape[0] * shape[1]
    real = int(key.sum())
    return {"bucketed": round(1 - real / computed, 4),
            "unbucketed": round(1 - real / (len(key) * int(key.max())), 4)}
