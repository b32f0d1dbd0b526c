"""How forecasts are scored, as the forecasting field scores them.

Per series: MAE, RMSE, sMAPE, and MASE (MAE over the in-sample MAE of the seasonal naive forecast,
computed on the history before the origin); then the mean over series. The probabilistic scores are
pooled over every point: the scaled quantile loss (2 x pinball summed over points, over the summed
|y|, averaged over quantiles: the usual CRPS estimate) and the coverage of each interval.
Unknown test values (NaN) are left out of every score.
"""

import warnings

import numpy as np

from zoo.quantiles import column_names, quantiles_of


def mase_scale(history, season):
    """The in-sample MAE of the seasonal naive forecast (naive if the history is shorter than a
    season and one step); NaN where it is 0 or cannot be computed."""
    history = history[np.isfinite(history)]
    lag = season if len(history) > season else 1
    if len(history) <= lag:
        return np.nan
    scale = np.mean(np.abs(history[lag:] - history[:-lag]))
    return scale if scale > 0 else np.nan


def mase_scales(history, season):
    """MASE's scale of every series of `history` (the Panel before the origin), [series]: computed once
    per origin, for the model and every baseline scored there."""
    return np.array([mase_scale(history.series(i), season) for i in range(len(history))])


def score(actual, paths, scales, levels):
    """Scores of forecasts. actual: [series, horizon]; paths: [series, horizon, quantiles] in the order
    of quantiles_of(levels); scales: mase_scales of the history before the origin."""
    quantiles = np.asarray(quantiles_of(levels))
    named = columns(paths, levels)
    median = named["forecast"]
    known = np.isfinite(actual)
    error = np.where(known, actual - median, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a series with no known test value: NaN, left out
        per_series = {
            "mae": np.nanmean(np.abs(error), axis=1),
            "rmse": np.sqrt(np.nanmean(error ** 2, axis=1)),
            "smape": np.nanmean(200 * np.abs(error) / (np.abs(actual) + np.abs(median)), axis=1),
        }
        per_series["mase"] = per_series["mae"] / scales
    result = {name: float(np.nanmean(values)) for name, values in per_series.items()}
    y = np.where(known, actual, 0.0)[..., None]
    miss = y - paths
    pinball = np.where(known[..., None], np.maximum(quantiles * miss, (quantiles - 1) * miss), 0)
    result["scaled_ql"] = float(np.mean(2 * pinball.sum(axis=(0, 1)) / np.abs(y).sum()))
    for level in levels:
        inside = (actual >= named[f"lo-{level:g}"]) & (actual <= named[f"hi-{level:g}"])
        result[f"coverage_{level:g}"] = float(inside[known].mean())
    return result


def columns(paths, levels):
    """{column name: [series, horizon]} of `paths`: lo-95, lo-80, forecast, hi-80, hi-95."""
    return {name: paths[..., i] for i, name in enumerate(column_names(levels))}
