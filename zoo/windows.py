"""Training windows drawn from a Panel on the fly, as a tf.data pipeline.

Each batch picks series uniformly (every series counts alike, however long) and, in each, a
forecast origin uniformly among those with a full context before them and a value after them (in a
series shorter than the context, among those with one value on each side: a window whose scale is
read off a handful of values would otherwise weigh far more in the loss than the rest). The window is
the `input_size` values before the origin (left-padded with NaN where the series starts later) and
the `horizon` after it (NaN past the series' end); contexts are [batch, input_size, 1], the
series as the one feature. Nothing is stored per origin: a batch is gathered
from the panel's one flat array, so memory stays that of the data.

The weight of each target step is 1 / the window's scale (zoo.layers.window_scale) where the value is
known and 0 where it is missing or past the end: the pinball loss is scale-free and blind to gaps.
"""

import numpy as np
import tensorflow as tf

from zoo.data import PAD_VALUE
from zoo.errors import ZooError
from zoo.layers import observed, window_scale


def target_weights(context, target):
    """(targets with NaN as 0, weights [batch, horizon]): 1 / scale where known, 0 where missing, and 0
    for a window whose context holds no value (nothing to read a level or a scale from)."""
    _, scale = window_scale(context, PAD_VALUE / 2)
    seen = tf.reduce_max(observed(context, PAD_VALUE / 2), axis=1, keepdims=True) > 0
    known = tf.math.is_finite(target) & seen
    weight = tf.where(known, 1.0 / scale, tf.zeros_like(target))
    return tf.where(known, target, tf.zeros_like(target)), weight


def trainable(panel, held_out=0):
    """The series that yield a training window once their last `held_out` values are set aside: at
    least two values, one on each side of some origin."""
    return np.flatnonzero(panel.lengths - held_out >= 2)


def training_windows(panel, input_size, horizon, batch_size, steps, seed, held_out=0):
    """`steps` batches of (context [b, input_size], target [b, horizon], weight [b, horizon]) per
    pass, drawn anew each pass (epoch) and the same for the same seed, from every series without
    its last `held_out` values (read in place: the panel is not copied but into TensorFlow, once)."""
    usable = trainable(panel, held_out)
    if not len(usable):
        raise ZooError("No series has two values before the validation and test windows: nothing to "
                       "train on. Give longer series or a shorter horizon.")
    values = tf.Variable(panel.values, trainable=False)  # a resource: tf.data copies a captured constant
    starts = tf.constant(panel.starts[usable])
    lengths = tf.constant(panel.lengths[usable] - held_out)
    offsets = tf.range(-input_size, horizon, dtype=tf.int64)

    def batch(draw):
        seeds = tf.stack([draw, tf.constant(seed, tf.int64)])
        pick = tf.random.stateless_uniform([batch_size], seeds, 0, len(usable), dtype=tf.int64)
        length, start = tf.gather(lengths, pick), tf.gather(starts, pick)
        # A full context where the series has one, else any origin with a value on each side.
        lowest = tf.where(length > input_size, tf.constant(input_size, tf.int64), 1)
        share = tf.random.stateless_uniform([batch_size], seeds + 1)
        origin = lowest + tf.cast(share * tf.cast(length - lowest, tf.float32), tf.int64)
        origin = tf.minimum(origin, length - 1)
        position = origin[:, None] + offsets[None, :]
        inside = (position >= 0) & (position < length[:, None])
        index = start[:, None] + tf.clip_by_value(position, 0, length[:, None] - 1)
        window = tf.where(inside, tf.gather(values, index), np.float32(np.nan))
        context = window[:, :input_size]
        target, weight = target_weights(context, window[:, input_size:])
        return context[:, :, None], target, weight

    return (tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(steps)
            .map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


def origin_windows(panel, cut, input_size, horizon):
    """(context, target, weight) arrays at the origin `cut` values before every series' end: the
    `input_size` values before it and the `horizon` after it (cut >= horizon; NaN where unknown), read
    in place. Missing context values are PAD_VALUE, as a client sends them (JSON has no NaN)."""
    context = panel.tails(input_size, before=cut)
    future = panel.tails(horizon, before=cut - horizon)
    context = np.where(np.isnan(context), np.float32(PAD_VALUE), context)
    target, weight = target_weights(tf.constant(context), tf.constant(future))
    return context[:, :, None], target.numpy(), weight.numpy()
