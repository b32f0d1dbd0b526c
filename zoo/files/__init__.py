"""The user's own data files: which file is which split, which format reads it, how splits are made.

`DATA=` names a file or a folder. A folder holds `train.*` and optionally `validation.*` (or
`dev.*`) and `test.*`; `VAL_DATA=` and `TEST_DATA=` name files directly. A split that is not given
is cut from the training file with the seed, stratified by class (`split`); a forecasting table is
cut in time by its own loader, never shuffled.

Each task lists its `FileFormat`s (zoo/tasks/<task>.py); the readers live here, one module per
kind of file (lines, tables, series, conll).
"""

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from zoo.errors import DataFileError, ZooError
from zoo.options import checked_options

VALIDATION_STEMS = ("validation", "valid", "val", "dev")


@dataclass(frozen=True)
class FileFormat:
    """How one task reads one kind of file.

    load(files, seed, max_len, **options) -> zoo.data.Dataset; `files` is a `Files`.
    """

    name: str
    extensions: tuple
    load: Callable


@dataclass(frozen=True)
class Files:
    """The files of each split; `train` may also be arrays given straight from Python."""

    train: object
    validation: Path | None = None
    test: Path | None = None

    @property
    def name(self):
        if not isinstance(self.train, Path):
            return "arrays"
        return self.train.parent.name if self.train.stem.lower() == "train" else self.train.stem

    @property
    def extension(self):
        return self.train.suffix.lower() if isinstance(self.train, Path) else ".npz"


def resolve(data, val_data=None, test_data=None):
    """The `Files` that DATA, VAL_DATA and TEST_DATA name; ZooError if one is missing or ambiguous."""
    if isinstance(data, Mapping | tuple | list):
        return Files(data, *(_existing(p) for p in (val_data, test_data)))
    path = Path(data)
    if path.is_dir():
        train = _one(path, ("train",), required=True)
        validation = _one(path, VALIDATION_STEMS)
        test = _one(path, ("test",))
    else:
        train, validation, test = _existing(path), None, None
    return Files(train, _existing(val_data) or validation, _existing(test_data) or test)


def _existing(path):
    if path is None:
        return None
    path = Path(path)
    if not path.is_file():
        raise ZooError(f"Data file {path} does not exist" + (" (it is a folder)." if path.is_dir() else "."))
    return path


def _one(folder, stems, required=False):
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.stem.lower() in stems)
    if len(found) > 1:
        raise ZooError(f"{folder} holds several files for one split: {', '.join(p.name for p in found)}.")
    if not found and required:
        raise ZooError(f"{folder} has no train.* file; a data folder holds train.<ext> and optionally "
                       "validation.<ext> (or dev.<ext>) and test.<ext>.")
    return found[0] if found else None


def format_for(task, files, other_tasks=()):
    """The task's FileFormat for these files' extension, or a ZooError saying what is allowed
    (and which of `other_tasks` reads such a file)."""
    extension = files.extension
    for path in (files.validation, files.test):
        if path is not None and path.suffix.lower() != extension:
            raise ZooError(f"{path} is a {path.suffix or 'extension-less'} file, but the training file is "
                           f"{extension}: give every split in one format.")
    for file_format in task.formats:
        if extension in file_format.extensions:
            return file_format
    fits = [other.name for other in other_tasks if any(extension in f.extensions for f in other.formats)]
    hint = f" A {extension} file fits task {' or '.join(fits)}." if fits else ""
    allowed = "; ".join(f"{f.name} ({', '.join(f.extensions)})" for f in task.formats) or "none"
    raise ZooError(f"Task {task.name!r} cannot read {files.train} ({extension or 'no extension'}).{hint} "
                   f"Formats for {task.name}: {allowed}.")


def load(task, data, val_data=None, test_data=None, seed=0, max_len=None, options=None, other_tasks=()):
    files = resolve(data, val_data, test_data)
    file_format = format_for(task, files, other_tasks)
    options = checked_options(file_format.load, options or {}, f"{file_format.name} files")
    return file_format.load(files, seed=seed, max_len=max_len, **options)


def read_splits(files, read):
    """Reads every file given: (train, validation or None, test or None)."""
    return tuple(None if path is None else read(path) for path in (files.train, files.validation, files.test))


def take(records, rows):
    """The rows of aligned records (arrays, lists or zoo.text.Tokens), in the order given."""
    rows = np.asarray(rows)
    return tuple(part[rows] if isinstance(part, np.ndarray) else
                 part.take(rows) if hasattr(part, "take") else [part[i] for i in rows] for part in records)


def split(records, validation, test, seed, labels=None):
    """Fills in the missing splits from the training records.

    A missing test split is 20% of the file, a missing validation split 20% (of the file when
    both are missing, of the training file otherwise): stratified by `labels` where every class
    has two examples.
    Where classes are too rare for a stratified validation cut that leaves each of them in training
    (rare_classes), there is none: the validation split is empty, and training says so.
    """
    count = len(records[0])
    rows = np.arange(count)
    if test is None:
        rows, test_rows = _cut(rows, 0.2, seed, labels)
        test = take(records, test_rows)
    none_held_out = False
    if validation is None:
        share = 0.25 if len(rows) < count else 0.2
        none_held_out = labels is not None and rare_classes(np.asarray(labels)[rows], share)
        validation_rows = rows[:0]
        if not none_held_out:
            rows, validation_rows = _cut(rows, share, seed, labels)
        validation = take(records, validation_rows)
    if len(rows) < count:
        records = take(records, rows)
    if min(len(part[0]) for part in (records, test)) == 0 or (len(validation[0]) == 0 and not none_held_out):
        raise ZooError(f"{count} examples are too few to split into training, validation and test: "
                       "give VAL_DATA and TEST_DATA, or more examples.")
    return records, validation, test


# What a run says when rare_classes left no validation split.
NO_VALIDATION = ("a class has too few examples for a stratified validation cut that leaves every class "
                 "in training, so every example trains (VAL_DATA gives a validation file).")


def rare_classes(labels, share):
    """Whether a stratified cut of `share` of these labels cannot leave every class in training with
    one of each held out: a class has one example, or the cut has fewer rows than there are classes
    (the archive's 2-per-class sets), or it would leave fewer."""
    _, counts = np.unique(labels, return_counts=True)
    held_out = math.ceil(share * len(labels))
    return counts.min() < 2 or held_out < len(counts) or len(labels) - held_out < len(counts)


def _cut(rows, share, seed, labels):
    from sklearn.model_selection import train_test_split

    stratify = None
    if labels is not None:
        _, counts = np.unique(np.asarray(labels)[rows], return_counts=True)
        stratify = np.asarray(labels)[rows] if counts.min() >= 2 else None
    try:
        return tuple(train_test_split(rows, test_size=share, stratify=stratify, random_state=seed))
    except ValueError:  # too few rows of some class for a stratified cut
        return tuple(train_test_split(rows, test_size=share, random_state=seed))


def label_ids(train, validation, test, files):
    """Label names (sorted, from training only) and each split's ids; unseen labels are an error.

    Labels are NumPy arrays, or Arrow string arrays from a table (looked up without a Python loop).
    """
    arrow = isinstance(train, pa.Array)
    names = sorted(pc.unique(train).to_pylist() if arrow else set(np.asarray(train).tolist()))
    index = {name: i for i, name in enumerate(names)}
    out = []
    for split_name, labels, path in (("training", train, files.train), ("validation", validation,
                                     files.validation), ("test", test, files.test)):
        if arrow:
            ids = pc.index_in(labels, value_set=pa.array(names, labels.type))
            unseen = labels.filter(ids.is_null()).to_pylist()
            ids = np.asarray(ids.fill_null(0), dtype="int32")
        else:
            labels = np.asarray(labels).tolist()
            unseen = [label for label in labels if label not in index]
            ids = np.array([index.get(label, 0) for label in labels], dtype="int32")
        if unseen:
            where = path if path is not None and split_name != "training" else f"the {split_name} split"
            raise DataFileError(where, f"{len(unseen)} rows have labels that training never saw: "
                                f"{', '.join(map(repr, sorted(set(map(str, unseen)))[:10]))}. "
                                "Add examples of them to the training file, or remove those rows.")
        out.append(ids)
    return [str(name) for name in names], out


def class_codes(labels):
    """Integer codes of string labels, to stratify a split by (fast where the labels are many)."""
    return np.asarray(pc.dictionary_encode(labels).indices) if isinstance(labels, pa.Array) else labels
