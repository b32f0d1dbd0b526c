"""The statistical baselines a forecast is shown beside, fitted in the same run on the same cut-off:
statsforecast's Naive, SeasonalNaive, AutoETS, AutoTheta and AutoARIMA (the field's reference
implementations), each with the same prediction intervals as the model.

statsforecast takes no missing values: a baseline reads each history with its gaps filled by linear
interpolation (and the ends by the nearest value). A model that fails on a series (too short for
its season) falls back to the naive forecast there, as statsforecast's `fallback_model` does, and
so does SeasonalNaive where a history is shorter than one season.
"""

import os
import time
import warnings

import numpy as np
import pandas as pd

from zoo.quantiles import column_names

NAMES = ("Naive", "SeasonalNaive", "AutoETS", "AutoTheta", "AutoARIMA")


def _long(history):
    rows = []
    for i, name in enumerate(history.ids):
        values = pd.Series(history.series(i), dtype="float64").interpolate(limit_direction="both")
        if values.isna().all():
            values[:] = 0.0
        rows.append(pd.DataFrame({"unique_id": name, "ds": history.dates(i), "y": values.to_numpy()}))
    return pd.concat(rows, ignore_index=True)


def _models(season, names):
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    made = {"Naive": Naive(), "SeasonalNaive": SeasonalNaive(season_length=season),
            "AutoETS": AutoETS(season_length=season), "AutoTheta": AutoTheta(season_length=season),
            "AutoARIMA": AutoARIMA(season_length=season)}
    return [made[name] for name in names]


def forecast(history, horizon, season, levels, names=NAMES):
    """{baseline: (paths [series, horizon, quantiles] in the order of quantiles_of(levels), seconds)}
    for every series of `history` (a Panel), `horizon` steps after its end."""
    os.environ.setdefault("NIXTLA_ID_AS_COL", "1")
    from statsforecast import StatsForecast
    from statsforecast.models import Naive

    frame = _long(history)
    results = {}
    for name, model in zip(names, _models(season, names)):
        started = time.perf_counter()
        engine = StatsForecast(models=[model], freq=history.freq, n_jobs=1, fallback_model=Naive())
        with warnings.catch_warnings():  # short histories: statsforecast says so for every series
            warnings.simplefilter("ignore", UserWarning)
            out = engine.forecast(df=frame, h=horizon, level=list(levels))
        seconds = time.perf_counter() - started
        alias = repr(model)
        out = out.set_index("unique_id").loc[list(history.ids)]
        # statsforecast names the bounds as zoo.quantiles does (lo-80, ...), after the model's alias.
        paths = np.stack([out[alias if name == "forecast" else f"{alias}-{name}"].to_numpy()
                          .reshape(len(history), horizon) for name in column_names(levels)], -1)
        # SeasonalNaive leaves NaN where a history is shorter than a season: the naive forecast there.
        last = frame.groupby("unique_id", sort=False)["y"].last().loc[list(history.ids)].to_numpy()
        paths = np.where(np.isnan(paths), last[:, None, None], paths)
        results[name] = (paths, round(seconds, 2))
    return results
