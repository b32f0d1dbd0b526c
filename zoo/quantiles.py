"""Forecast quantiles: prediction-interval levels as the quantiles a forecaster answers, and the
names of their columns.

Levels are given as forecasting libraries give them (`level=(80, 95)`: central intervals); the
model predicts the median and the interval bounds, lo-95 < lo-80 < median < hi-80 < hi-95
(zoo.layers.QuantileOutput keeps them in that order).
"""

DEFAULT_LEVELS = (80, 95)


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
