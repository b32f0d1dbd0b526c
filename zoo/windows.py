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

With covariates (Exogenous), a window is the model's named inputs: `context` [batch, input_size,
1 + hist + futr] (the series, then its covariates at the same steps), `future` [batch, horizon, futr]
(the future-known covariates over the forecast steps), `static` [batch, stat] and `calendar`
[batch, cycles] (the phase of the context's last step in each cycle, zoo.calendar).
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import tensorflow as tf

from zoo import calendar as calendars
from zoo.data import PAD_VALUE
from zoo.errors import ZooError
from zoo.layers import observed, window_scale
from zoo.panel import offset


@dataclass(frozen=True)
class Exogenous:
    """What a forecaster reads beside the series: its panel's covariates and, with `calendar`, the
    calendar's cycles of its frequency; the statistics that standardise them, from the values before
    `held_out` (the validation and test windows)."""

    hist: tuple
    futr: tuple
    stat: tuple
    cycles: tuple
    mean: tuple
    std: tuple
    static_mean: tuple
    static_std: tuple

    @classmethod
    def of(cls, panel, held_out, calendar=False):
        width = len(panel.hist) + len(panel.futr)
        mean, std = (), ()
        if width:
            rows = np.concatenate([panel.exog_rows(i)[: max(int(n) - held_out, 0)]
                                   for i, n in enumerate(panel.lengths)] + [np.zeros((0, width), "float32")])
            mean, std = _moments(rows)
        static_mean, static_std = _moments(panel.static) if panel.stat else ((), ())
        return cls(panel.hist, panel.futr, panel.stat, calendars.cycles(panel.freq) if calendar else (),
                   mean, std, static_mean, static_std)

    @property
    def any(self):
        return bool(self.hist or self.futr or self.stat or self.cycles)

    @property
    def inputs(self):
        """The model's input names, in its order."""
        return ("context", *(("future",) if self.futr else ()), *(("static",) if self.stat else ()),
                *(("calendar",) if self.cycles else ()))

    def describe(self):
        """DataSpec.exogenous: what the builder reads and data.json tells a client (None: no covariates)."""
        if not self.any:
            return None
        return {"hist": list(self.hist), "futr": list(self.futr), "stat": list(self.stat),
                "calendar": [name for name, _ in self.cycles], "periods": [p for _, p in self.cycles],
                "mean": list(self.mean), "std": list(self.std), "static_mean": list(self.static_mean),
                "static_std": list(self.static_std)}


def _moments(rows):
    """(mean, std) per column, ignoring NaN; std 1 where a column is constant or empty."""
    rows = np.asarray(rows, "float64")
    seen = np.isfinite(rows)
    count = np.maximum(seen.sum(0), 1)
    mean = np.where(seen, rows, 0).sum(0) / count
    std = np.sqrt(np.where(seen, (rows - mean) ** 2, 0).sum(0) / count)
    return tuple(float(m) for m in mean), tuple(float(s) if s > 0 else 1.0 for s in std)


def _phases(panel, steps_in):
    """[series, cycles]: the calendar phase of step `steps_in[i]` of every series (0 = its first)."""
    step = offset(panel.freq)
    dates = pd.DatetimeIndex([first + int(k) * step for first, k in zip(panel.first, steps_in)])
    return calendars.phases(dates, panel.freq)


def target_weights(context, target, per_scale=True):
    """(targets with NaN as 0, weights [batch, horizon]): 1 / scale where known (1 unless `per_scale`),
    0 where missing, and 0 for a window whose context holds no value (nothing to read a level or a
    scale from)."""
    _, scale = window_scale(context, PAD_VALUE / 2)
    seen = tf.reduce_max(observed(context, PAD_VALUE / 2), axis=1, keepdims=True) > 0
    known = tf.math.is_finite(target) & seen
    weight = tf.where(known, 1.0 / scale if per_scale else tf.ones_like(target), tf.zeros_like(target))
    return tf.where(known, target, tf.zeros_like(target)), weight


def trainable(panel, held_out=0):
    """The series that yield a training window once their last `held_out` values are set aside: at
    least two values, one on each side of some origin."""
    return np.flatnonzero(panel.lengths - held_out >= 2)


def training_windows(panel, input_size, horizon, batch_size, steps, seed, held_out=0, exogenous=None,
                     per_scale=True):
    """`steps` batches of (context [b, input_size, 1], target [b, horizon], weight [b, horizon]) per
    pass, drawn anew each pass (epoch) and the same for the same seed, from every series without
    its last `held_out` values (read in place: the panel is not copied but into TensorFlow, once).
    With `exogenous` (an Exogenous that reads something), the inputs are named, as the module says.
    per_scale: weights of 1 / the window's scale (zoo.quantiles.weighs_by_scale), else 1."""
    usable = trainable(panel, held_out)
    if not len(usable):
        raise ZooError("No series has two values before the validation and test windows: nothing to "
                       "train on. Give longer series or a shorter horizon.")
    values = tf.Variable(panel.values, trainable=False)  # a resource: tf.data copies a captured constant
    starts = tf.constant(panel.starts[usable])
    lengths = tf.constant(panel.lengths[usable] - held_out)
    offsets = tf.range(-input_size, horizon, dtype=tf.int64)
    reads = exogenous is not None and exogenous.any
    if reads:
        none = np.zeros((len(panel.values), 0), "float32")
        exog = tf.Variable(panel.exog if panel.exog is not None else none, trainable=False)
        static = tf.constant(panel.static[usable] if panel.stat else np.zeros((len(usable), 0), "float32"))
        phase0 = tf.constant(_phases(panel, np.zeros(len(panel)))[usable] if exogenous.cycles else
                             np.zeros((len(usable), 0)), tf.float32)
        periods = tf.constant([p for _, p in exogenous.cycles], tf.float32)

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
        target, weight = target_weights(context, window[:, input_size:], per_scale)
        if not reads:
            return context[:, :, None], target, weight
        covariates = tf.where(inside[:, :, None], tf.gather(exog, index), np.float32(np.nan))
        phase = tf.gather(phase0, pick) + tf.cast(origin - 1, tf.float32)[:, None]
        x = _named(exogenous, context[:, :, None], covariates[:, :input_size], covariates[:, input_size:],
                   tf.gather(static, pick), tf.math.floormod(phase, periods), tf.concat)
        return x, target, weight

    return (tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(steps)
            .map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


def origin_windows(panel, cut, input_size, horizon, exogenous=None, per_scale=True):
    """(context, target, weight) arrays at the origin `cut` values before every series' end: the
    `input_size` values before it and the `horizon` after it (cut >= horizon; NaN where unknown), read
    in place. Missing context values are PAD_VALUE, as a client sends them (JSON has no NaN). With
    `exogenous` that reads something, the inputs are named arrays, as the module says."""
    context = panel.tails(input_size, before=cut)
    future = panel.tails(horizon, before=cut - horizon)
    target, weight = target_weights(tf.constant(np.nan_to_num(context, nan=PAD_VALUE)), tf.constant(future),
                                    per_scale)
    x = context[:, :, None]
    if exogenous is not None and exogenous.any:
        width = len(exogenous.hist) + len(exogenous.futr)
        past, ahead = ((panel.exog_tails(n, before) if width else np.zeros((len(panel), n, 0), "float32"))
                       for n, before in ((input_size, cut), (horizon, cut - horizon)))
        phase = _phases(panel, panel.lengths - cut - 1) if exogenous.cycles else np.zeros((len(panel), 0))
        x = _named(exogenous, x, past, ahead, panel.static if panel.stat else np.zeros((len(panel), 0)),
                   phase.astype("float32"), np.concatenate)
        x = {name: np.nan_to_num(v, nan=PAD_VALUE).astype("float32") for name, v in x.items()}
    else:
        x = np.nan_to_num(x, nan=PAD_VALUE)
    return x, target.numpy(), weight.numpy()


def _named(exogenous, context, past, ahead, static, phase, concat):
    """The model's named inputs (Exogenous.inputs) from a window's parts; `concat`: numpy's or TF's."""
    parts = {"context": concat([context, past], -1), "future": ahead[:, :, len(exogenous.hist):],
             "static": static, "calendar": phase}
    return {name: parts[name] for name in exogenous.inputs}
