"""Many series in one table: the long format (`unique_id, ds, y`) held as one flat array.

A Panel keeps every series end to end in one float32 array (NaN where a value is missing) with
the offset where each starts, its first timestamp and the table's frequency. It is cut at the
forecasting protocol's origins (`cut`), read as the context windows a forecaster takes
(`tails`), and sampled into training windows on the fly (zoo.windows): no window is ever
stored for every origin, so tens of thousands of series fit in memory.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from zoo.errors import ZooError

# Steps in one seasonal cycle for each kind of pandas offset (per step of size 1): a year of months,
# a week of days, a day of hours or minutes. MASE's season length and the seasonal baselines use it.
_CYCLE = {"YearBegin": 1, "YearEnd": 1, "QuarterBegin": 4, "QuarterEnd": 4, "MonthBegin": 12,
          "MonthEnd": 12, "Week": 52, "Day": 7, "BusinessDay": 5, "Hour": 24, "Minute": 1440,
          "Second": 60}


def offset(freq):
    """The pandas offset of a frequency alias ("MS", "YS", "30min", ...); ZooError if there is none."""
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
    freq: the pandas alias of the step between timestamps."""

    ids: tuple
    values: np.ndarray
    starts: np.ndarray
    first: tuple
    freq: str

    @classmethod
    def from_series(cls, series, freq, first=None):
        """From {id: values} (or a list of arrays, named 0, 1, ...); `first` gives each first timestamp."""
        if not isinstance(series, dict):
            series = {str(i): s for i, s in enumerate(series)}
        arrays = [np.asarray(v, dtype="float32").reshape(-1) for v in series.values()]
        starts = np.concatenate([[0], np.cumsum([len(a) for a in arrays])]).astype("int64")
        if first is None:
            first = (pd.Timestamp("2000-01-01"),) * len(arrays)
        return cls(tuple(series), np.concatenate(arrays) if arrays else np.zeros(0, "float32"), starts,
                   tuple(pd.Timestamp(f) for f in first), offset(freq).freqstr)

    @property
    def lengths(self):
        return np.diff(self.starts)

    def __len__(self):
        return len(self.ids)

    def series(self, index):
        return self.values[self.starts[index]:self.starts[index + 1]]

    def dates(self, index, extra=0):
        """The timestamps of series `index`, and of `extra` steps after its end."""
        return pd.date_range(self.first[index], periods=int(self.lengths[index]) + extra, freq=self.freq)

    def cut(self, steps):
        """Every series without its last `steps` values: what is known at the forecast origin."""
        kept = np.maximum(self.lengths - steps, 0)
        pieces = [self.series(i)[: kept[i]] for i in range(len(self))]
        return Panel.from_series(dict(zip(self.ids, pieces)), self.freq, self.first)

    def tails(self, steps, before=0):
        """The `steps` values of every series that end `before` values from its end, [series, steps],
        NaN in front where a series holds fewer (read in place: nothing else is copied)."""
        out = np.full((len(self), steps), np.nan, dtype="float32")
        for i in range(len(self)):
            end = self.starts[i + 1] - before
            tail = self.values[max(self.starts[i], end - steps):max(self.starts[i], end)]
            out[i, steps - len(tail):] = tail
        return out

    def describe(self):
        lengths = self.lengths
        return {"series": len(self), "frequency": self.freq, "shortest": int(lengths.min()),
                "longest": int(lengths.max()), "values": int(lengths.sum()),
                "missing": int(np.isnan(self.values).sum())}
