"""Labelled series and vectors: UCR/UEA `.ts` and `.arff` (aeon's readers) and NumPy `.npz`.

Each reader returns (x, y): x a list of float32 arrays [steps, features] (or one array
[examples, features] of vectors from `.npz`), y the labels or targets as a NumPy array.
"""

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
