"""Forecast quantiles: prediction-interval levels as the quantiles a forecaster answers, and the
names of their columns.

Levels are given as forecasting libraries give them (`level=(80, 95)`: central intervals); the
model predicts the median and the interval bounds, lo-95 < lo-80 < median < hi-80 < hi-95
(zoo.layers.QuantileOutput keeps them in that order).

The quantiles come from one of two kinds of head (`distribution=`): free quantiles, trained by the
pinball loss ("quantiles", the default), or a distribution whose quantiles follow from a centre and a
spread per step ("normal", "student_t"), trained by its negative log-likelihood as DeepAR trains its
heads (zoo.layers.DistributionOutput, NegativeLogLikelihood).
"""

DEFAULT_LEVELS = (80, 95)
DISTRIBUTIONS = ("quantiles", "normal", "student_t")
# The Student-t head's degrees of freedom, fixed (Lange, Little and Taylor 1989 found 4 a robust
# choice): its quantiles are then a constant multiple of the spread, exact in every export.
STUDENT_T_DF = 4.0


def check_distribution(distribution):
    from zoo.errors import ZooError

    if distribution not in DISTRIBUTIONS:
        raise ZooError(f"Unknown distribution {distribution!r}; choose one of {', '.join(DISTRIBUTIONS)}.")
    return distribution


def standard_quantiles(quantiles, distribution):
    """The quantiles of the standard `distribution` (centre 0, spread 1) at `quantiles`, increasing."""
    from scipy import stats

    check_distribution(distribution)
    law = stats.norm if distribution == "normal" else stats.t(STUDENT_T_DF)
    return [float(v) for v in law.ppf(quantiles)]


def weighs_by_scale(distribution):
    """Whether a training window's loss is divided by its scale: the pinball loss is in the series'
    units, so yes; a log-likelihood's gradient is the same in any units (its scale only adds a
    constant), so no."""
    return distribution == "quantiles"


def quantiles_of(levels):
    """Central interval levels (percent) -> the sorted quantiles with the median: (80,) -> (0.1, 0.5, 0.9)."""
    lows = [round((100 - level) / 200, 6) for level in levels]
    return tuple(sorted({*lows, 0.5, *(round(1 - q, 6) for q in lows)}))


def levels_of(quantiles):
    """The interval levels whose bounds `quantiles` hold: (0.025, 0.1, 0.5, 0.9, 0.975) -> (80, 95)."""
    return tuple(sorted(round((1 - 2 * q) * 100, 4) for q in quantiles if q < 0.5))


def column_names(levels):
    """The output columns, in the order of quantiles_of(levels): lo-95, lo-80, forecast, hi-80, hi-95."""
    ordered = sorted(levels, reverse=True)
    return ([f"lo-{level:g}" for level in ordered] + ["forecast"]
            + [f"hi-{level:g}" for level in ordered[::-1]])
