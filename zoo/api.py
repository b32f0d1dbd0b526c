"""The notebook API: `zoo.train` and `zoo.load`, the same machinery as `rnn-zoo train`, `export` and
`serve`, called from Python.

    >>> import zoo
    >>> run = zoo.train("many_to_one", data=(x, y), epochs=20)      # or a file, a folder, a DataFrame
    >>> run.metrics["test"]
    >>> predictor = zoo.load(run.run_dir)       # or an export's version folder
    >>> predictor.predict(x_new)                # what the server answers: {"label": ..., "label_name": ...}

This module is the one place that calls the stages in order (data, training, export, a served
version); nothing downstream imports it. Arrays and DataFrames are written once to a file named by
their content (in a `data/` folder beside the runs), which the run's config.json names: the run
resumes like any other, and export reads the run directory only.
"""

import hashlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import ZooError

RUNTIMES = ("onnx", "savedmodel")
# Where zoo.load(run_dir) exports a run it is given, inside that run directory.
RUN_EXPORTS = "exported"


@dataclass(frozen=True)
class Run:
    """A finished run directory (`rnn-zoo train`'s, or `zoo.train`'s).

    Attributes:
        run_dir: the run directory (config.json, data.json, model.keras, metrics.json, ...).
    """

    run_dir: Path

    @property
    def metrics(self) -> dict:
        """metrics.json: the test split's scores (`metrics["test"]`), epochs, training time, ..."""
        return _json(self.run_dir / "metrics.json")

    @property
    def config(self) -> dict:
        """config.json: every setting of the run, the defaults filled in."""
        return _json(self.run_dir / "config.json")

    def model(self):
        """The trained Keras model (model.keras, with the zoo's layers registered)."""
        from zoo.training import load_trained_model

        return load_trained_model(self.run_dir / "model.keras")

    def export(self, export_dir: str | Path = "exports", name: str | None = None,
               quantize: str = "none") -> Path:
        """Exports the run as `rnn-zoo export` does (SavedModel, ONNX, LiteRT, each verified) and
        returns the new version folder, `<export_dir>/<name>/<version>/`."""
        from export import export_run

        return export_run(self.run_dir, export_dir, name, quantize)

    def predictor(self, runtime: str = "onnx") -> "Predictor":
        """`zoo.load(run.run_dir, runtime)`."""
        return load(self.run_dir, runtime)


def train(task: str | None = None, data=None, *, preset: str | None = None,
          run_dir: str | Path | None = None, verbose="auto", **settings) -> Run:
    """Trains a task's model (or a preset's) and returns its `Run`.

    Args:
        task: one of `zoo.list_tasks()`; left out with `preset`.
        data: None (the bundled data set; `dataset=` names another), a file or a folder (as
            `DATA=`), arrays `(x, y)` or a dict of arrays (as an .npz file holds them), or a pandas
            DataFrame (read as the task reads a table: a text or numbers column and a label, or a
            long table of series for forecasting).
        preset: a preset's name (`zoo.list_presets()`): its architecture and training settings,
            on `data` if given.
        run_dir: where the run is written; by default runs/<task>/<data>-<time>, or the
            unfinished run of the same settings, which resumes.
        verbose: Keras' fit verbosity ("auto", 0, 1, 2).
        **settings: any `zoo.config.TrainConfig` field (epochs=5, cell="gru", units=64, ...).

    Returns:
        The finished run: `run.metrics`, `run.export()`, `run.predictor()`.
    """
    from zoo.presets import config_of
    from zoo.registry import get_task
    from zoo.training import RUNS_ROOT
    from zoo.training import train as train_run

    config = config_of(task, preset, **settings)
    if data is not None:
        root = Path(run_dir).parent if run_dir is not None else RUNS_ROOT / config.task
        data, name = _as_file(get_task(config.task), data, root / "data")
        settings = {"data": data, **({"dataset": name} if name and "dataset" not in settings else {}),
                    **settings}
        config = config_of(task, preset, **settings)
    return Run(train_run(config, run_dir=run_dir, verbose=verbose))


def _as_file(task, data, folder):
    """(path, run name) of `data`: a path as given; arrays and DataFrames written to a file named by
    their content, so that the same call finds the same file (and resumes the same run)."""
    if isinstance(data, str | Path):
        return str(data), None
    if hasattr(data, "to_parquet"):  # a pandas DataFrame: read as the task reads a table
        extensions = {e for f in task.formats for e in f.extensions}
        extension = next((e for e in (".csv", ".parquet") if e in extensions), None)
        if extension is None:
            raise ZooError(f"Task {task.name!r} reads no table (it reads {', '.join(sorted(extensions))}); "
                           "give it a file, or arrays.")
        buffer = io.BytesIO()
        if extension == ".csv":
            buffer.write(data.to_csv(index=False).encode())
        else:
            data.to_parquet(buffer, index=False)
        kind = "dataframe"
    else:
        if isinstance(data, tuple | list):
            if len(data) != 2:
                raise ZooError(f"data=(x, y) takes two arrays, got {len(data)}.")
            data = dict(zip(("x", "y"), data))
        if not isinstance(data, dict):
            raise ZooError(f"data takes a path, (x, y), a dict of arrays or a DataFrame; got "
                           f"{type(data).__name__}.")
        buffer, extension, kind = io.BytesIO(), ".npz", "arrays"
        np.savez(buffer, **{name: np.asarray(value) for name, value in data.items()})
    content = buffer.getvalue()
    path = folder / f"{kind}-{hashlib.sha256(content).hexdigest()[:12]}{extension}"
    if not path.exists():
        from zoo.training import replacing

        folder.mkdir(parents=True, exist_ok=True)
        with replacing(path) as tmp:
            Path(tmp).write_bytes(content)
    return str(path), kind


class Predictor:
    """One exported version, loaded into ONNX Runtime (or TensorFlow), answering as the server does.

    Attributes:
        version_dir: the export's version folder, `<export_dir>/<name>/<version>/`.
        metadata: its metadata.json (task, inputs, outputs, verification, ...).
    """

    def __init__(self, version_dir: str | Path, runtime: str = "onnx"):
        from serving.runtimes import ServedVersion

        if runtime not in RUNTIMES:
            raise ZooError(f"Unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}.")
        self.version_dir = Path(version_dir)
        # No cap on a call's size: the server's (--max-elements) guards it against other clients.
        self._served = ServedVersion(self.version_dir, runtime, max_elements=sys.maxsize)
        self.metadata = self._served.metadata

    @property
    def input_names(self) -> list:
        return [spec["name"] for spec in self._served.inputs]

    def predict(self, inputs) -> dict:
        """What the server's predict answers for these inputs, by output name (one row per example).

        Args:
            inputs: for a model of one input, its value: strings or token lists for a text model,
                token ids, or numbers (a list or an array, one entry per example); for several
                inputs, a dict by input name (`predictor.input_names`).

        Returns:
            {output name: array}: the numbers (label, values, forecast, ...) and, where the run
            has them, the names (label_name, tag_names, text, token_strings).
        """
        from kserve.errors import InvalidInput

        from serving.tfserving import columns

        try:
            outputs = self._served.predict(columns(self._served, inputs))
        except InvalidInput as error:
            raise ZooError(str(getattr(error, "reason", error))) from None
        return {name: np.asarray(outputs[name]) for name in sorted(outputs)}


def load(path: str | Path, runtime: str = "onnx") -> Predictor:
    """A `Predictor` for a run directory, an export's version folder, or a model folder (its
    highest version).

    A run directory is exported the first time (into its `exported/` folder, verified as
    `rnn-zoo export` verifies), and that export is loaded afterwards.
    """
    path = Path(path)
    if (path / "metadata.json").is_file():
        return Predictor(path, runtime)
    if (path / "config.json").is_file() and (path / "model.keras").is_file():
        return Predictor(_run_export(path), runtime)
    versions = _versions(path.glob("*"))
    if versions:
        return Predictor(versions[-1], runtime)
    raise ZooError(f"{path} is neither a finished run directory (config.json, model.keras), an export's "
                   "version folder (metadata.json) nor a model folder of versions.")


def _run_export(run_dir):
    """The newest export of this run in its exported/ folder, made first if there is none."""
    config = _json(run_dir / "config.json")
    for version in reversed(_versions((run_dir / RUN_EXPORTS).glob("*/*"))):
        if _json(version / "metadata.json").get("run") == config:
            return version
    return Run(run_dir).export(run_dir / RUN_EXPORTS)


def _versions(folders):
    """The published version folders among `folders` (numbered as the layout numbers them, with a
    metadata.json), lowest version first."""
    from export.layout import version_of

    found = ((version_of(p.name), p) for p in folders if (p / "metadata.json").is_file())
    return [p for _, p in sorted((number, p) for number, p in found if number is not None)]


def _json(path):
    if not path.is_file():
        raise ZooError(f"{path} does not exist: is {path.parent} a finished run?")
    return json.loads(path.read_text())
