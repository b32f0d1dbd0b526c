"""Many series in one table: the long format (`unique_id, ds, y`) held as one flat array.

A Panel keeps every series end to end in one float32 array (NaN where a value is missing) with
the offset where each starts, its first timestamp and the table's frequency. It is cut at the
forecasting protocol's origins (`cut`), read as the context windows a forecaster takes
(`tails`), and sampled into training windows on the fly (zoo.windows): no window is ever
stored for every origin, so tens of thousands of series fit in memory.

Covariates ride along: `exog` holds the past-only (`hist`) then the future-known (`futr`) columns of
every value, flat like `values`; `static` one row of numbers per series.
"""

from dataclasses import dataclass

import numpy as np

from zoo.errors import ZooError

# Steps in one seasonal cycle for each kind of pandas offset (per step of size 1): a year of months,
# a week of days, a day of hours or minutes. MASE's season length and the seasonal baselines use it.
_CYCLE = {"YearBegin": 1, "YearEnd": 1, "QuarterBegin": 4, "QuarterEnd": 4, "MonthBegin": 12,
          "MonthEnd": 12, "Week": 52, "Day": 7, "BusinessDay": 5, "Hour": 24, "Minute": 1440,
          "Second": 60}


def offset(freq):
    """The pandas offset of a frequency alias ("MS", "YS", "30min", ...); ZooError if there is none."""
    import pandas as pd

    try:
        return pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        raise ZooError(f"Unknown frequency {freq!r}; give a pandas alias such as YS, QS, MS, W, D, h "
                       "or 30min.") from None


def season_length(freq):
    """Steps in one seasonal cycle of `freq`: 12 for months, 7 for days, 48 for half-hours, 1 for years."""
    step = offset(freq)
    cycle = _CYCLE.get(type(step).__name__, 1)
    if type(step).__name__ in ("Hour", "Minute", "Second") and cycle % step.n == 0:
        return cycle // step.n
    return cycle if step.n == 1 else 1


@dataclass(frozen=True)
class Panel:
    """ids: each series' name; values: every series end to end (NaN: missing); starts: where each
    series begins in `values`, and its end as the last entry; first: each series' first timestamp;
    freq: the pandas alias of the step between timestamps; hist, futr: the names of exog's columns
    (values [len(values), len(hist) + len(futr)], NaN where missing); stat: the names of static's
    columns ([series, len(stat)])."""

    ids: tuple
    values: np.ndarray
    starts: np.ndarray
    first: tuple
    freq: str
    exog: np.ndarray | None = None
    hist: tuple = ()
    futr: tuple = ()
    static: np.ndarray | None = None
    stat: tuple = ()

    @classmethod
    def from_series(cls, series, freq, first=None, exog=None, hist=(), futr=(), static=None, stat=()):
        """From {id: values} (or a list of arrays, named 0, 1, ...); `first` gives each first timestamp;
        exog: {id: [values, columns]} in the order hist + futr; static: {id: [columns]} in stat's."""
        import pandas as pd

        if not isinstance(series, dict):
            series = {str(i): s for i, s in enumerate(series)}
        arrays = [np.asarray(v, dtype="float32").reshape(-1) for v in series.values()]
        starts = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype("int64")
        if first is None:
            first = (pd.Timestamp("2000-01-01"),) * len(arrays)
        width = len(hist) + len(futr)
        if width:
            exog = np.concatenate([np.asarray(exog[name], "float32").reshape(-1, width) for name in series]
                                  + [np.zeros((0, width), "float32")])
        if stat:
            static = np.asarray([static[name] for name in series], "float32").reshape(len(arrays), len(stat))
        return cls(tuple(series), np.concatenate(arrays) if arrays else np.zeros(0, "float32"), starts,
                   tuple(pd.Timestamp(f) for f in first), offset(freq).freqstr, exog if width else None,
                   tuple(hist), tuple(futr), static if stat else None, tuple(stat))

    def exog_rows(self, index):
        """The exog rows of series `index`: [its length, hist + futr]."""
        return self.exog[self.starts[index]:self.starts[index + 1]]

    def _rebuilt(self, series, first, exog=None):
        statics = {name: self.static[i] for i, name in enumerate(self.ids)} if self.stat else None
        return Panel.from_series(series, self.freq, first, exog, self.hist, self.futr, statics, self.stat)

    @property
    def lengths(self):
        return np.diff(self.starts)

    def __len__(self):
        return len(self.ids)

    def series(self, index):
        return self.values[self.starts[index]:self.starts[index + 1]]

    def dates(self, index, extra=0):
        """The timestamps of series `index`, and of `extra` steps after its end."""
        import pandas as pd

        return pd.date_range(self.first[index], periods=int(self.lengths[index]) + extra, freq=self.freq)

    def extended(self, steps, future=None):
        """Every series with `steps` unknown values after its end: the panel a forecast from the end
        reads. future: {id: [steps, futr]}, the future-known covariates over those steps (required
        when the panel has any); the past-only ones are unknown there."""
        exog = None
        if self.exog is not None:
            exog = {}
            for i, name in enumerate(self.ids):
                ahead = np.full((steps, len(self.hist) + len(self.futr)), np.nan, "float32")
                if self.futr:
                    ahead[:, len(self.hist):] = np.asarray(future[name], "float32").reshape(steps, -1)
                exog[name] = np.concatenate([self.exog_rows(i), ahead])
        pieces = {name: np.concatenate([self.series(i), np.full(steps, np.nan, "float32")])
                  for i, name in enumerate(self.ids)}
        return self._rebuilt(pieces, self.first, exog)

    def cut(self, steps):
        """Every series without its last `steps` values: what is known at the forecast origin."""
        kept = np.maximum(self.lengths - steps, 0)
        pieces = {name: self.series(i)[: kept[i]] for i, name in enumerate(self.ids)}
        exog = None if self.exog is None else {
            name: self.exog_rows(i)[: kept[i]] for i, name in enumerate(self.ids)}
        return self._rebuilt(pieces, self.first, exog)

    def head(self, count):
        """The first `count` series."""
        names = self.ids[:count]
        exog = None if self.exog is None else {name: self.exog_rows(i) for i, name in enumerate(names)}
        return self._rebuilt({name: self.series(i) for i, name in enumerate(names)}, self.first[:count], exog)

    def tails(self, steps, before=0):
        """The `steps` values of every series that end `before` values from its end, [series, steps],
        NaN in front where a series holds fewer (read in place: nothing else is copied)."""
        return self._tails(self.values, steps, before)

    def exog_tails(self, steps, before=0):
        """tails of the exog columns: [series, steps, hist + futr], NaN where a series holds fewer."""
        return self._tails(self.exog, steps, before)

    def _tails(self, flat, steps, before):
        out = np.full((len(self), steps, *flat.shape[1:]), np.nan, dtype="float32")
        for i in range(len(self)):
            end = self.starts[i + 1] - before
            tail = flat[max(self.starts[i], end - steps):max(self.starts[i], end)]
            out[i, steps - len(tail):] = tail
        return out

    def describe(self):
        lengths = self.lengths
        return {"series": len(self), "frequency": self.freq, "shortest": int(lengths.min()),
                "longest": int(lengths.max()), "values": int(lengths.sum()),
                "missing": int(np.isnan(self.values).sum()),
                **({"covariates": {"hist": list(self.hist), "futr": list(self.futr), "stat": list(self.stat)}}
                   if self.hist or self.futr or self.stat else {})}
