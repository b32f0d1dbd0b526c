"""A forecaster called as statsforecast's and neuralforecast's are: `fit(df)`, `predict(h, level=)`,
`cross_validation(df, n_windows=, step_size=)`, on long tables of `unique_id, ds, y` (and covariates).

    >>> forecaster = zoo.RecurrentForecaster(h=6, epochs=50).fit(df)
    >>> forecaster.predict(level=[80])          # unique_id, ds, RNN, RNN-lo-80, RNN-hi-80
    >>> forecaster.cross_validation(df, n_windows=3)   # unique_id, ds, cutoff, y, RNN, ...

It trains the forecasting task's run (zoo.train) on the table: one global model for every series,
its protocol holding out the last `h` values of each series as the test window (`metrics_` scores it
beside AutoETS, AutoTheta, AutoARIMA and the naive forecasts, fitted at the same cut-off) and the `h`
before them to stop training early. `predict` reads every series up to its end, those held-out values
included, and forecasts the `h` after it.
"""

import contextlib
import io
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from zoo.errors import ZooError

# The forecaster's parameters that are TrainConfig settings of the same name.
SETTINGS = ("cell", "layers", "units", "epochs", "batch_size", "learning_rate", "seed")


class RecurrentForecaster(BaseEstimator):
    """A global recurrent forecaster of many series, with intervals (the forecasting task).

    The settings `cell`, `layers`, `units`, `epochs`, `batch_size`, `learning_rate` and `seed` are the
    run's, as `zoo.config.TrainConfig` describes them; None: the task's default.

    Args:
        h: the forecast horizon; None: by frequency, as M4 (yearly 6, monthly 18, ...).
        freq: the pandas alias of the step between timestamps; None: inferred from `ds`.
        levels: the interval widths (percent) it learns; predict's `level` chooses among them.
        input_size: the context window; None: two horizons, or two seasons where a season is longer.
        season_length: None: by frequency (12 for months, 7 for days, ...).
        futr_exog_list: covariate columns known in the future (prices, promotions), as
            neuralforecast names them.
        hist_exog_list: covariate columns known up to the forecast origin only.
        stat_exog_list: columns of one number per series.
        calendar: read where each step falls in its frequency's cycles.
        alias: the forecast column's name (statsforecast's model alias).
        run_dir: where the run is written (a temporary folder by default); `run_dir_` after fit.
        verbose: Keras' fit verbosity, and the run's own lines when not 0.
    """

    def __init__(self, h=None, freq=None, levels=(80, 95), input_size=None, season_length=None,
                 futr_exog_list=(), hist_exog_list=(), stat_exog_list=(), calendar=False, cell=None,
                 layers=None, units=None, epochs=None, batch_size=None, learning_rate=None, seed=42,
                 alias="RNN", run_dir=None, verbose=0):
        self.h = h
        self.freq = freq
        self.levels = levels
        self.input_size = input_size
        self.season_length = season_length
        self.futr_exog_list = futr_exog_list
        self.hist_exog_list = hist_exog_list
        self.stat_exog_list = stat_exog_list
        self.calendar = calendar
        self.cell = cell
        self.layers = layers
        self.units = units
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.seed = seed
        self.alias = alias
        self.run_dir = run_dir
        self.verbose = verbose

    def fit(self, df, id_col="unique_id", time_col="ds", target_col="y"):
        """Trains on the long table `df` (a pandas DataFrame); returns self."""
        self.run_dir_, self.metrics_, self.model_, self.series_ = self._train(
            df, self._options(id_col, time_col, target_col), "run")
        self.id_col_, self.time_col_ = id_col, time_col
        return self

    def predict(self, h=None, futr_df=None, level=None):
        """The next `h` steps (at most the fitted h) of every series after its end.

        Args:
            h: the steps to forecast; None: the fitted horizon.
            futr_df: with future-known covariates, their values over those steps: one row per
                series and step (`unique_id`, `ds` and each futr column).
            level: the intervals to give (of the fitted `levels`); None: none.

        Returns:
            A DataFrame of `unique_id`, `ds`, the median forecast under `alias`, and per level
            `<alias>-lo-<level>` and `<alias>-hi-<level>`, as statsforecast's predict gives.
        """
        import pandas as pd

        from zoo.scores import columns

        check_is_fitted(self, "model_")
        series = self.series_
        horizon = series.horizon
        h = horizon if h is None else h
        if not isinstance(h, int | np.integer) or not 0 < h <= horizon:
            raise ZooError(f"h must be 1..{horizon} (the horizon this forecaster was fitted for), got {h!r}.")
        levels = sorted(level or [])
        unknown = [value for value in levels if value not in series.levels]
        if unknown:
            raise ZooError(f"level {unknown[0]} was not fitted; the fitted levels are "
                           f"{', '.join(f'{value:g}' for value in series.levels)} (levels= at construction).")
        panel = series.panel
        extended = panel.extended(horizon, self._future(futr_df, horizon) if panel.futr else None)
        x = replace(series, panel=extended).windows(horizon)[0]
        named = columns(self.model_.predict(x, verbose=0), series.levels)
        frame = {"unique_id": np.repeat(np.asarray(panel.ids, dtype=object), h),
                 "ds": np.concatenate([panel.dates(i, extra=h)[-h:] for i in range(len(panel))]),
                 self.alias: named["forecast"][:, :h].ravel()}
        for value in levels:
            for side in ("lo", "hi"):
                frame[f"{self.alias}-{side}-{value:g}"] = named[f"{side}-{value:g}"][:, :h].ravel()
        return pd.DataFrame(frame)

    def cross_validation(self, df, n_windows=1, step_size=None, id_col="unique_id", time_col="ds",
                         target_col="y"):
        """Rolling-origin forecasts: `n_windows` test windows of h, each `step_size` (default h)
        before the next, the last at every series' end; the model trains once, before the earliest.

        Returns:
            A DataFrame of `unique_id`, `ds`, `cutoff` (the last value read), `y`, the forecast and
            every fitted level's bounds, as statsforecast's cross_validation gives. The scores of
            each window beside the baselines are in `cv_metrics_` (the run's metrics.json).
        """
        import pandas as pd

        options = {**self._options(id_col, time_col, target_col), "backtest": n_windows,
                   **({"step": step_size} if step_size is not None else {})}
        run_dir, self.cv_metrics_, _, series = self._train(df, options, f"cv-{n_windows}")
        table = pd.read_csv(run_dir / "forecasts.csv", parse_dates=["ds", "cutoff"])
        named = {"forecast": self.alias, **{f"{side}-{value:g}": f"{self.alias}-{side}-{value:g}"
                                            for value in series.levels for side in ("lo", "hi")}}
        return table.rename(columns=named)

    def _options(self, id_col, time_col, target_col):
        options = {"horizon": self.h, "freq": self.freq, "levels": list(self.levels),
                   "input_size": self.input_size, "season_length": self.season_length,
                   "futr": ",".join(self.futr_exog_list), "hist": ",".join(self.hist_exog_list),
                   "stat": ",".join(self.stat_exog_list), "calendar": bool(self.calendar),
                   "id_col": id_col, "time_col": time_col, "target_col": target_col}
        return {name: value for name, value in options.items() if value not in (None, "", False)}

    def _train(self, df, options, name):
        """(run directory, metrics, model, the data's forecasting Series) of a run on `df`."""
        from zoo.api import train
        from zoo.config import TrainConfig
        from zoo.training import load_data

        if not hasattr(df, "to_csv"):
            raise ZooError(f"df must be a pandas DataFrame in long format (unique_id, ds, y), got "
                           f"{type(df).__name__}.")
        base = Path(self.run_dir) if self.run_dir is not None else Path(tempfile.mkdtemp(prefix="rnn-zoo-"))
        settings = {name: getattr(self, name) for name in SETTINGS if getattr(self, name) is not None}
        quiet = contextlib.redirect_stdout(io.StringIO()) if not self.verbose else contextlib.nullcontext()
        with quiet:
            run = train("forecasting", data=df, run_dir=base / name, verbose=self.verbose, options=options,
                        **settings)
            series = load_data(TrainConfig(**run.config)).series
        return run.run_dir, run.metrics, run.model(), series

    def _future(self, futr_df, steps):
        """{id: [steps, futr]} from futr_df's rows at each series' next `steps` timestamps."""
        panel = self.series_.panel
        needed = ", ".join((self.id_col_, self.time_col_, *panel.futr))
        if futr_df is None:
            raise ZooError(f"This forecaster reads future-known covariates ({', '.join(panel.futr)}): give "
                           f"their values over the forecast steps in futr_df ({needed}).")
        missing = [column for column in (self.id_col_, self.time_col_, *panel.futr) if column not in futr_df]
        if missing:
            raise ZooError(f"futr_df has no column {missing[0]!r}; it needs {needed}.")
        import pandas as pd

        rows = futr_df.assign(**{self.id_col_: futr_df[self.id_col_].astype(str),
                                 self.time_col_: pd.to_datetime(futr_df[self.time_col_])})
        rows = rows.set_index([self.id_col_, self.time_col_])[list(panel.futr)]
        future = {}
        for i, name in enumerate(panel.ids):
            wanted = pd.MultiIndex.from_arrays([[name] * steps, panel.dates(i, extra=steps)[-steps:]])
            values = rows.reindex(wanted).to_numpy("float32")
            if np.isnan(values).any():
                when = wanted[int(np.flatnonzero(np.isnan(values).any(axis=1))[0])][1]
                raise ZooError(f"futr_df has no values for series {name!r} at {when.date()} (it needs each "
                               f"series' next {steps} timestamps: the forecast steps).")
            future[name] = values
        return future
