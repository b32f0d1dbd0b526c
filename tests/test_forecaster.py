"""zoo.RecurrentForecaster: statsforecast's calls (fit, predict with level, cross_validation) on a long
table; predict reads every series up to its end and dates the steps after it, the future-known
covariates of futr_df at those dates."""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import zoo
from zoo.errors import ZooError

pytestmark = pytest.mark.slow  # each fit is a zoo run

STARTS = {"north": ("2018-01-01", 40), "south": ("2019-07-01", 30)}


def _table():
    rng = np.random.default_rng(0)
    rows = []
    for name, (start, n) in STARTS.items():
        dates = pd.date_range(start, periods=n, freq="MS")
        values = 100 + np.arange(n) * 2 + 10 * np.sin(np.arange(n) * 2 * np.pi / 12) + rng.normal(size=n)
        rows += [(name, d, v, float(i % 3)) for i, (d, v) in enumerate(zip(dates, values))]
    return pd.DataFrame(rows, columns=["unique_id", "ds", "y", "promo"])


class _Echo:
    """A stand-in model whose median path is what `read` picks from the windows it is fed: the
    plumbing around the model, checked exactly."""

    def __init__(self, read):
        self.read = read

    def predict(self, x, verbose=0):
        median = self.read(x)
        return np.stack([median - 2, median - 1, median, median + 1, median + 2], axis=-1)


def test_predict_forecasts_the_steps_after_every_series_end(tmp_path):
    table = _table()
    forecaster = zoo.RecurrentForecaster(h=4, epochs=1, units=4, run_dir=tmp_path / "f")
    forecaster.fit(table[["unique_id", "ds", "y"]])
    assert set(forecaster.metrics_["baselines"]) >= {"AutoETS", "AutoTheta"}
    assert forecaster.metrics_["test"]["mase"] > 0
    forecast = forecaster.predict(level=[80])
    assert list(forecast.columns) == ["unique_id", "ds", "RNN", "RNN-lo-80", "RNN-hi-80"]
    assert (forecast["RNN-lo-80"] <= forecast["RNN"]).all()
    assert (forecast["RNN"] <= forecast["RNN-hi-80"]).all()
    for name, (start, n) in STARTS.items():
        dates = pd.date_range(start, periods=n + 4, freq="MS")[-4:]
        assert forecast.loc[forecast.unique_id == name, "ds"].tolist() == dates.tolist()
    # The window fed ends at each series' last value (the held-out test values included).
    series = forecaster.series_
    forecaster.model_ = _Echo(lambda x: x[:, -1:, 0] + np.arange(series.horizon))
    last = table.groupby("unique_id")["y"].last()
    echoed = forecaster.predict(h=2)
    assert list(echoed.columns) == ["unique_id", "ds", "RNN"] and len(echoed) == 4
    for name in STARTS:
        np.testing.assert_allclose(echoed.loc[echoed.unique_id == name, "RNN"], last[name] + np.arange(2),
                                   rtol=1e-6)
    with pytest.raises(ZooError, match="h must be 1..4"):
        forecaster.predict(h=5)
    with pytest.raises(ZooError, match="level 90 was not fitted; the fitted levels are 80, 95"):
        forecaster.predict(level=[90])
    assert clone(forecaster).get_params()["h"] == 4


def test_future_known_covariates_are_read_at_the_forecast_dates_and_required(tmp_path):
    table = _table()
    forecaster = zoo.RecurrentForecaster(h=3, epochs=1, units=4, futr_exog_list=["promo"],
                                         run_dir=tmp_path / "f").fit(table)
    future = pd.DataFrame([(name, ds, 10.0 * k + (name == "south"))
                           for name, (start, n) in STARTS.items()
                           for k, ds in enumerate(pd.date_range(start, periods=n + 3, freq="MS")[-3:])],
                          columns=["unique_id", "ds", "promo"])
    assert len(forecaster.predict(futr_df=future)) == 6
    forecaster.model_ = _Echo(lambda x: x["future"][..., 0])
    echoed = forecaster.predict(futr_df=future.sample(frac=1, random_state=0))  # any row order
    np.testing.assert_allclose(echoed["RNN"], [0, 10, 20, 1, 11, 21])
    with pytest.raises(ZooError, match=r"reads future-known covariates \(promo\): give"):
        forecaster.predict()
    with pytest.raises(ZooError, match="no values for series 'south' at 2022-03-01"):
        forecaster.predict(futr_df=future.iloc[:-1])


def test_cross_validation_gives_every_window_with_its_cutoff(tmp_path):
    forecaster = zoo.RecurrentForecaster(h=3, epochs=1, units=4, levels=(90,), run_dir=tmp_path / "f")
    windows = forecaster.cross_validation(_table()[["unique_id", "ds", "y"]], n_windows=2, step_size=2)
    assert list(windows.columns) == ["unique_id", "ds", "cutoff", "y", "RNN", "RNN-lo-90", "RNN-hi-90"]
    north = windows[windows.unique_id == "north"]
    assert north["cutoff"].drop_duplicates().dt.strftime("%Y-%m").tolist() == ["2020-11", "2021-01"]
    assert len(north) == 6 and north["y"].notna().all()
    assert len(forecaster.cv_metrics_["windows"]) == 2
    with pytest.raises(ZooError, match="df must be a pandas DataFrame"):
        forecaster.cross_validation([1, 2, 3])
