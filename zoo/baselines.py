"""The statistical baselines a forecast is shown beside, fitted in the same run on the same cut-off:
statsforecast's Naive, SeasonalNaive, AutoETS, AutoTheta and AutoARIMA (the field's reference
implementations), each with the same prediction intervals as the model.

statsforecast takes no missing values: a baseline reads each history with its gaps filled by linear
interpolation (and the ends by the nearest value). A model that fails on a series (too short for
its season) falls back to the naive forecast there, as statsforecast's `fallback_model` does, and
so does SeasonalNaive where a history is shorter than one season.

Future-known covariates (a panel's `futr` columns) are given to statsforecast with their values over
the horizon: AutoARIMA regresses on them (ARIMA with exogenous regressors); the others read none.
"""

import os
import time
import warnings

import numpy as np

from zoo.quantiles import column_names

NAMES = ("Naive", "SeasonalNaive", "AutoETS", "AutoTheta", "AutoARIMA")


def _filled(values):
    import pandas as pd

    values = pd.DataFrame(np.asarray(values, "float64")).interpolate(limit_direction="both")
    return values.fillna(0.0).to_numpy()


def long_frame(history, future=None):
    """(statsforecast's df of every history, its X_df: the futr columns over the horizon, or None).

    future: [series, horizon, hist + futr] the exog columns after each history's end (Panel.exog_tails);
    their future-known part is read, never the past-only one.
    """
    import pandas as pd

    rows, ahead = [], []
    futr = [f"futr:{name}" for name in history.futr] if future is not None else []
    known = slice(len(history.hist), None)  # the futr columns of exog
    for i, name in enumerate(history.ids):
        frame = pd.DataFrame({"unique_id": name, "ds": history.dates(i),
                              "y": _filled(history.series(i)[:, None])[:, 0]})
        if futr:
            exog = history.exog_rows(i)[:, known]
            frame[futr] = _filled(exog) if len(exog) else exog
            dates = history.dates(i, extra=future.shape[1])[-future.shape[1]:]
            values = dict(zip(futr, _filled(future[i][:, known]).T))
            ahead.append(pd.DataFrame({"unique_id": name, "ds": dates, **values}))
        rows.append(frame)
    return pd.concat(rows, ignore_index=True), pd.concat(ahead, ignore_index=True) if ahead else None


def _models(season, names):
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    made = {"Naive": Naive(), "SeasonalNaive": SeasonalNaive(season_length=season),
            "AutoETS": AutoETS(season_length=season), "AutoTheta": AutoTheta(season_length=season),
            "AutoARIMA": AutoARIMA(season_length=season)}
    return [made[name] for name in names]


def forecast(history, horizon, season, levels, names=NAMES, future=None):
    """{baseline: (paths [series, horizon, quantiles] in the order of quantiles_of(levels), seconds)}
    for every series of `history` (a Panel), `horizon` steps after its end; `future`: its exog
    columns over those steps, [series, horizon, hist + futr] (None: no covariate is read)."""
    os.environ.setdefault("NIXTLA_ID_AS_COL", "1")
    from statsforecast import StatsForecast
    from statsforecast.models import Naive

    frame, ahead = long_frame(history, future if history.futr else None)
    results = {}
    for name, model in zip(names, _models(season, names)):
        started = time.perf_counter()
        engine = StatsForecast(models=[model], freq=history.freq, n_jobs=1, fallback_model=Naive())
        with warnings.catch_warnings():  # short histories: statsforecast says so for every series
            warnings.simplefilter("ignore", UserWarning)
            out = engine.forecast(df=frame, h=horizon, level=list(levels), X_df=ahead)
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
