"""Labelled series and vectors: UCR/UEA `.ts` and `.arff` (aeon's readers), the UCR archive's own text
files (`.tsv` of the 2018 archive, `.txt` of the 2015 one) and NumPy `.npz`.

Each reader returns (x, y): x a list of float32 arrays [steps, features] (or one array
[examples, features] of vectors from `.npz`), y the labels or targets as a NumPy array.
"""

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from zoo.errors import DataFileError
from zoo.files.lines import read_bytes


def read_ts(path):
    from aeon.datasets import load_from_ts_file

    read_bytes(path)  # empty or not UTF-8: said with its line
    try:
        x, y = load_from_ts_file(str(path))
    except Exception as error:  # aeon raises several kinds; find the line it stopped at
        _first_bad_data_line(path, ":", error)
        raise DataFileError(path, f"is not a .ts file aeon can read: {error}") from error
    return _cases(path, x, y)


def read_arff(path):
    from aeon.datasets import load_from_arff_file

    read_bytes(path)
    try:
        x, y = load_from_arff_file(str(path))
    except Exception as error:
        _first_bad_data_line(path, None, error)
        raise DataFileError(path, f"is not an .arff file aeon can read: {error}") from error
    return _cases(path, x, y)


_FIELDS = re.compile(r"[,\s]+")


def is_ucr_text(path):
    """Whether a file's first line is all numbers: the UCR archive's text files have no header row,
    where a table's `.tsv` has one."""
    with open(path, encoding="utf-8", errors="replace") as f:
        first = next((line for line in f if line.strip()), "")
    try:
        return len([float(value) for value in _FIELDS.split(first.strip())]) > 1
    except ValueError:
        return False


def read_ucr_text(path):
    """The UCR archive's text files: one series a line, its class label first, then its values,
    separated by tabs (`.tsv`, 2018), spaces or commas (`.txt`, 2015). NaN after a series' last value
    pads it to the file's width (the 2018 archive's unequal lengths); a NaN within is a missing value."""
    text = read_bytes(path).decode("utf-8")
    x, y = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = _FIELDS.split(line.strip())
        if fields == [""]:
            continue
        try:
            values = np.asarray(fields, dtype="float64")
        except ValueError:
            bad = next(field for field in fields if not _is_number(field))
            raise DataFileError(path, f"{bad!r} is not a number: a UCR text file holds a class label, "
                                "then the series' values, on each line.", number) from None
        if np.isnan(values[0]):
            raise DataFileError(path, "the class label (the first value) is missing.", number)
        series = values[1:]
        last = np.flatnonzero(~np.isnan(series))
        if len(last) == 0:
            raise DataFileError(path, "the line has a class label but no values.", number)
        x.append(series[: last[-1] + 1].astype("float32")[:, None])
        label = values[0]
        y.append(str(int(label)) if label == int(label) else str(label))
    if not x:
        raise DataFileError(path, "holds no series.")
    return x, np.asarray(y)


def _is_number(field):
    try:
        float(field)
    except ValueError:
        return False
    return True


def _cases(path, x, y):
    if y is None or len(y) == 0:
        raise DataFileError(path, "has no class labels: many_to_one needs one label per series.")
    # aeon gives (cases, channels, steps), as a list when the lengths differ.
    return [np.asarray(case, dtype="float32").T for case in x], np.asarray(y)


def _first_bad_data_line(path, dimension_separator, error):
    """Raises DataFileError at the first data line whose values are not numbers."""
    in_data = False
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if not line or line.startswith(("#", "%")):
                continue
            if line.lower().startswith("@data"):
                in_data = True
                continue
            if not in_data or line.startswith("@"):
                continue
            if dimension_separator is not None and dimension_separator not in line:
                raise DataFileError(path, "a data line must end with ':<class label>' (UCR .ts).", number)
            parts = line.split(dimension_separator)[:-1] if dimension_separator else [line.rsplit(",", 1)[0]]
            for part in parts:
                for value in part.strip("'\"").replace("\\n", ",").split(","):
                    value = value.strip()
                    if value and value != "?":
                        try:
                            float(value)
                        except ValueError:
                            raise DataFileError(path, f"{value!r} is not a number ({error}).", number) \
                                from None


def read_npz(source, needs=("x", "y")):
    """`x` and `y` from an .npz file, or from a mapping of arrays ({"x": ..., "y": ...} or (x, y))."""
    path = Path(source) if not isinstance(source, Mapping | tuple | list) else "arrays"
    if isinstance(source, tuple | list):
        source = dict(zip(("x", "y"), source))
    if isinstance(source, Mapping):
        arrays = source
    else:
        try:
            arrays = np.load(path, allow_pickle=False)
            arrays = {name: arrays[name] for name in arrays.files}
        except ValueError as error:
            if "allow_pickle" not in str(error):
                raise DataFileError(path, f"is not a NumPy .npz file: {error}") from error
            # An object array of series of different lengths is stored as a pickle: only for your own files.
            with np.load(path, allow_pickle=True) as loaded:
                arrays = {name: loaded[name] for name in loaded.files}
        except (OSError, EOFError) as error:
            raise DataFileError(path, f"is not a NumPy .npz file: {error}") from error
    missing = [name for name in needs if name not in arrays]
    if missing:
        raise DataFileError(path, f"has no array {' or '.join(map(repr, missing))}; it needs "
                            f"{' and '.join(map(repr, needs))}, found {sorted(arrays)}.")
    x = arrays["x"]
    y = np.asarray(arrays["y"]) if "y" in needs else np.zeros(len(x))
    if len(x) != len(y):
        raise DataFileError(path, f"'x' has {len(x)} examples but 'y' has {len(y)}.")
    if len(x) == 0:
        raise DataFileError(path, "'x' holds no examples.")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if isinstance(x, np.ndarray) and x.dtype != object:
        return np.asarray(x, dtype="float32"), y
    return [np.asarray(case, dtype="float32").reshape(len(case), -1) for case in x], y
