"""Trains a task's model into a run directory that resumes, reloads and exports as it is.

A run directory holds config.json (written first), data.json (padding, vocabularies, label
names, text contract), examples.npz (held-out inputs that `make export` verifies on, so that it
needs no data), backup/ (while training), model.keras, trained.json (once model.keras is the
trained model: a run stopped after it only evaluates when run again),
history.csv, training_curves.png, logs/ (TensorBoard) and metrics.json (written last: a run
without it is unfinished, and the same command resumes it).
"""

import contextlib
import csv
import json
import math
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from zoo import augment, batching, distributed, ensemble, xla
from zoo.architecture import AUTO_UNITS_BESIDE_FCN
from zoo.config import TrainConfig, spread_ratio, typical_length  # noqa: F401  (TrainConfig: imported from here too)
from zoo.data import EXAMPLES, PAD_VALUE
from zoo.decoding import ValidationExactMatch, attention_maps, decoding_metrics, plot_attention
from zoo.errors import ZooError
from zoo.files import NO_VALIDATION
from zoo.registry import get_task, loss_and_metrics

RUNS_ROOT = Path("runs")


class ResumableBackup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore keeping the last two epochs (`double_checkpoint`).

    A backup torn by a kill or a full disk falls back to the one before it, said in one line; with
    none readable the run starts again from its first epoch, said too. history.csv keeps only the
    epochs that the restored state has been through.
    """

    def __init__(self, backup_dir, history_csv, strategy=None):
        # Not deleted when fit ends: train() removes it once model.keras is saved.
        super().__init__(str(backup_dir), double_checkpoint=True, delete_checkpoint=False)
        self._history_csv = Path(history_csv)
        self._strategy = strategy if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) else None

    def on_train_begin(self, logs=None):
        if self._strategy is not None:
            self._agree_on_the_epoch()  # before any weights load: loading runs collectives of its own
            try:
                self._load_model()
            except (OSError, ValueError, KeyError) as error:
                # Read whole a moment ago: the other workers load theirs, so this one cannot go on alone.
                raise RuntimeError(f"The backup in {self.backup_dir} agreed on could not be loaded "
                                   f"({type(error).__name__}: {error}).") from error
            _keep_epochs(self._history_csv, getattr(self.model, "_initial_epoch", 0) or 0)
            return
        try:
            self._load_model()
        except (OSError, ValueError, KeyError) as error:
            print(f"The last backup in {self.backup_dir} cannot be read ({type(error).__name__}); "
                  "resuming from the one before it.")
            try:
                self._restore_previous()
            except (OSError, ValueError, KeyError):
                print(f"No backup in {self.backup_dir} can be read; training starts again from epoch 1.")
                shutil.rmtree(self.backup_dir, ignore_errors=True)
                self.model._initial_epoch = 0
        _keep_epochs(self._history_csv, getattr(self.model, "_initial_epoch", 0) or 0)

    @staticmethod
    def _epoch_in(metadata_path):
        """The epoch a backup's training metadata names; 0 where there is none to read."""
        try:
            return int(json.loads(Path(metadata_path).read_text())["epoch"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def _readable(self):
        """[epoch of the last backup, of the one before it], each -1 unless its metadata and every
        weight of its file read whole (a worker killed while writing leaves a torn file)."""
        epochs = []
        for weights, metadata in ((self._weights_path, self._training_metadata_path),
                                  (self._prev_weights_path, self._prev_training_metadata_path)):
            epoch = self._epoch_in(metadata)
            epochs.append(epoch if epoch > 0 and _weights_read_whole(weights) else -1)
        return epochs

    def _agree_on_the_epoch(self):
        """Workers back up one after another at each epoch's end, and a kill can tear any of their
        files: left alone they could resume from different epochs, and their all-reduces would no
        longer pair up. So every worker says which of its two backups (the last, the one before) it
        can read whole, all take the newest epoch that every one of them can read, and a worker
        whose last backup is not that epoch puts the one before in its place. With no epoch in common
        all start again from the first: loading weights runs collectives that a worker loading
        nothing would not match."""
        mine = self._readable()
        own = tf.constant([mine], tf.int64)
        rows = self._strategy.gather(self._strategy.run(lambda: own), axis=0).numpy().tolist()
        common = set(rows[0]).intersection(*rows[1:]) - {-1}
        agreed = max(common, default=0)
        if agreed == 0:
            if max(map(max, rows)) > 0:
                print(f"The workers can read backups of epochs {rows}: none in common, so every worker "
                      "starts again from epoch 1.")
            shutil.rmtree(self.backup_dir, ignore_errors=True)
            return
        if mine[0] == agreed:
            return
        print(f"The workers can read backups of epochs {rows}: this one resumes from its backup of epoch "
              f"{agreed}, the newest every worker can read.")
        self._previous_in_place()

    def _restore_previous(self):
        if not os.path.exists(self._prev_weights_path):
            raise OSError("no earlier backup")
        self._previous_in_place()
        self._load_model()

    def _previous_in_place(self):
        """The backup before the last (double_checkpoint's) copied over the last."""
        shutil.copy(self._prev_weights_path, self._weights_path)
        if os.path.exists(self._prev_training_metadata_path):
            shutil.copy(self._prev_training_metadata_path, self._training_metadata_path)


def _weights_read_whole(path):
    """Whether every array of a Keras weights file reads (h5py; no HDF5 file lock is taken)."""
    import h5py

    def read(_, item):
        if isinstance(item, h5py.Dataset):
            item[()]

    try:
        with h5py.File(path, "r", locking=False) as f:
            f.visititems(read)
        return True
    except (OSError, ValueError, KeyError, RuntimeError):
        return False


def _keep_epochs(history_csv, epochs):
    """Drops the rows of history.csv from epoch `epochs` on (epochs a fallen-back backup never had)."""
    if not history_csv.exists():
        return
    with open(history_csv, newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [row for row in rows[1:] if row and int(row[0]) < epochs]
    if len(kept) != len(rows):
        with open(history_csv, "w", newline="") as f:
            csv.writer(f).writerows(kept)


@contextlib.contextmanager
def replacing(path):
    """A temporary path beside `path`, renamed onto it when the block ends well: a reader never
    sees half a file, and a failed write leaves none (and its OSError names `path`)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as error:
        if error.filename is None and error.errno is not None:  # a full disk met inside Keras' write
            raise OSError(error.errno, error.strerror, str(path)) from error
        raise
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path, payload):
    with replacing(path) as tmp, open(tmp, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)


def require_writable_dir(path, what):
    """Refuses, before any work, a directory that is a file or that cannot be made or written.

    mkdir would find out only once the data is loaded and the model built, in a traceback.
    """
    path = Path(path)
    existing = path
    while not existing.exists():  # False too below a file (ENOTDIR)
        existing = existing.parent
    if not existing.is_dir():
        raise ZooError(f"{what} {path} is a file, not a directory." if existing == path
                       else f"{what} {path} cannot be made: {existing} is a file.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ZooError(f"{what} {path} is not writable." if existing == path
                       else f"{what} {path} cannot be made: {existing} is not writable.")


def _damage(path):
    """Why a .keras file is damaged (cut short, overwritten), or None for a sound zip with a config."""
    try:
        with zipfile.ZipFile(path) as archive:
            bad_member, names = archive.testzip(), archive.namelist()
    except (zipfile.BadZipFile, EOFError):
        return "not a complete .keras zip file"
    if bad_member is not None:
        return f"{bad_member} in it fails its checksum"
    if "config.json" not in names:
        return "it holds no config.json"
    return None


def load_trained_model(path, remedy="train again into a new RUN_DIR"):
    """keras.saving.load_model, with a damaged file said to be damaged, by name, with what to do.

    Keras calls any file that is not a zip "File not found". A sound zip that Keras still cannot
    rebuild (an unknown layer) keeps Keras' own error: that is a bug, not damage. A missing or
    unreadable file is an OSError that names it.
    """
    import zoo.tasks  # noqa: F401  (the task modules register their own layers and losses with Keras)

    path = Path(path)
    why = _damage(path)
    if why is not None:
        raise ZooError(f"{path} is damaged ({why}); {remedy}.")
    return keras.saving.load_model(path)


def _unfinished_run(config, root):
    """The newest run under `root` started with this exact config and not finished."""
    candidates = sorted(root.glob(f"{config.task}/*/config.json"), reverse=True)
    for config_file in candidates:
        run_dir = config_file.parent
        if not (run_dir / "metrics.json").exists() and json.loads(config_file.read_text()) == asdict(config):
            return run_dir
    return None


def choose_run_dir(config, run_dir=None, root=RUNS_ROOT):
    """RUN_DIR as given; else an unfinished run of the same config; else a new timestamped one."""
    if run_dir is not None:
        run_dir = Path(run_dir)
        if (run_dir / "metrics.json").exists():
            raise ZooError(f"{run_dir} holds a finished run; give another RUN_DIR.")
        config_file = run_dir / "config.json"
        if config_file.exists() and json.loads(config_file.read_text()) != asdict(config):
            raise ZooError(f"{run_dir} holds an unfinished run of another config; give another RUN_DIR.")
        return run_dir
    root = Path(root)
    unfinished = _unfinished_run(config, root)
    if unfinished is not None:
        return unfinished
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    run_dir, copy = root / config.task / f"{config.dataset}-{stamp}", 1
    while run_dir.exists():  # two runs started within the same second
        copy += 1
        run_dir = root / config.task / f"{config.dataset}-{stamp}-{copy}"
    return run_dir


def _plot_history(history_csv, png_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(history_csv) as f:
        rows = list(csv.DictReader(f))
    metrics = [name for name in rows[0] if name != "epoch" and not name.startswith("val_")]
    figure, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.5), squeeze=False)
    epochs = [int(r["epoch"]) + 1 for r in rows]
    for axis, name in zip(axes[0], metrics):
        axis.plot(epochs, [float(r[name]) for r in rows], label="train")
        if rows[0].get(f"val_{name}", "NA") != "NA":  # CSVLogger's NA: no validation split
            axis.plot(epochs, [float(r[f"val_{name}"]) for r in rows], label="validation")
        axis.set(title=name, xlabel="epoch")
        axis.legend()
    figure.tight_layout()
    figure.savefig(png_path, dpi=100)
    plt.close(figure)


def load_data(config):
    """The data set a resolved config names: bundled, or the user's files."""
    task = get_task(config.task)
    # A character encoder reads each word's spelling beside its id (zoo.text.Tokens.spelled).
    spelled = {"spelled": True} if config.characters else {}
    return task.load(None if config.data else config.dataset, seed=config.seed, max_len=config.max_len,
                     limit=config.limit, data=config.data, val_data=config.val_data,
                     test_data=config.test_data, **config.options, **spelled)


def write_examples(path, data, generates):
    """The first held-out inputs (and, for text runs, the same inputs as text), for export to verify."""
    source = data.x_test[0] if generates else data.x_test
    # Named inputs (a forecaster's covariates) as source.<name>, in the model's order.
    arrays = ({f"source.{name}": part[:EXAMPLES] for name, part in source.items()}
              if isinstance(source, dict) else {"source": source[:EXAMPLES]})
    if data.text_examples:
        rows = data.text_examples[:EXAMPLES]
        if isinstance(rows[0], list):  # token lists: padded with "" as the text signature takes them
            width = max(len(row) for row in rows)
            rows = [row + [""] * (width - len(row)) for row in rows]
        arrays["text"] = np.array(rows, dtype=str)
    with replacing(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def compile_model(model, config, spec, train_size, steps_per_epoch=None, jit_compile=False, members=False,
                  optimizer=None):
    """Compiles with the run's loss and metrics and Adam as `config` sets it (rate, schedule, clipping).

    config: a resolved TrainConfig; spec: the data's DataSpec; train_size: training examples, to count
    the cosine schedule's steps; steps_per_epoch: the batches of an epoch where they are not
    train_size / batch_size (bucketing ends each bucket with a partly filled batch; forecasting draws
    its own number of window batches); jit_compile: XLA-compiled steps; members: `model` is an
    ensemble's fit model (zoo.ensemble), its outputs stacked, each member trained by its own loss;
    optimizer: another model's (an ensemble's answer model takes its fit model's, and is saved with it).
    """
    rate = config.learning_rate
    if config.schedule == "cosine":
        steps = config.epochs * (steps_per_epoch or math.ceil(train_size / config.batch_size))
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=steps)
    loss, metrics = loss_and_metrics(spec.kind, get_task(config.task), spec)
    if members:
        loss, metrics = ensemble.member_loss_and_metrics(loss, metrics)
    optimizer = optimizer or keras.optimizers.Adam(rate, clipnorm=config.clipnorm or None)
    model.compile(optimizer=optimizer, loss=loss,
                  metrics=metrics, jit_compile=jit_compile)
    return model


def _batches(task, data, config, bucketing, distributed):
    """What Model.fit reads: the arrays, batched by Keras as always, or a tf.data pipeline
    (zoo.batching) where batches are bucketed by length or shared among workers.

    Returns (train, validation, batch_size for fit, steps per epoch or None, padding shares or None).
    A task that draws its own training examples (Task.windows) gives its pipeline instead.
    """
    if task.windows is not None:
        if distributed:
            raise ZooError(f"Task {task.name!r} draws its training windows in one process: train it "
                           "without WORKERS, TF_CONFIG or STRATEGY.")
        train_batches, validation, steps = task.windows(data, config)
        return (train_batches,), validation, None, steps, None
    # None where no validation split could be held out (zoo.files.rare_classes).
    validation = (data.x_val, data.y_val) if len(data.y_val) else None
    if not (bucketing or distributed):
        return (data.x_train, data.y_train), validation, config.batch_size, None, None
    train_batches = batching.dataset(task, data.x_train, data.y_train, config.batch_size, config.seed,
                                     bucketing)
    # Validation keeps the arrays' padding: Keras weighs a masked metric by the batch's padded shape,
    # so bucketed validation batches would shift val_accuracy a little from run to run.
    val_batches = validation and batching.dataset(task, *validation, config.batch_size, config.seed, False,
                                                  shuffle=False)
    if not bucketing:
        return (train_batches,), val_batches, None, None, None
    padding = batching.padding(task, data.x_train, train_batches)
    return (train_batches,), val_batches, None, int(train_batches.cardinality()), padding


def _fit(models, data, config, run_dir, callbacks, verbose, task, batches, strategy):  # noqa: PLR0913
    """Fits from the backup (if any), saves model.keras atomically and returns (seconds, padding).

    models: (the model saved, the model fitted), the same one but for an ensemble (zoo.ensemble).
    A generating model's history gets val_exact_match (greedy decoding of the validation split) each epoch.
    """
    model, fit_model = models
    backup_dir, history_csv = run_dir / "backup", run_dir / "history.csv"
    bucketing, jit_compile = batches
    train_data, val_data, batch_size, steps, padding = _batches(task, data, config, bucketing,
                                                                strategy is not None)
    with strategy.scope() if strategy else contextlib.nullcontext():
        compile_model(fit_model, config, data.spec, len(data.y_train), steps, jit_compile,
                      members=len(config.members) > 1)
        if fit_model is not model:  # an ensemble or augmented: the saved one is evaluated, reloads compiled
            compile_model(model, config, data.spec, len(data.y_train), optimizer=fit_model.optimizer)
    stopping = [] if config.schedule == "cosine" or val_data is None else [
        keras.callbacks.EarlyStopping(patience=config.patience, restore_best_weights=True)]
    started = time.perf_counter()
    with distributed.keras_multi_worker(fit_model, strategy):
        fit_model.fit(
            *train_data,
            validation_data=val_data,
            epochs=config.epochs,
            batch_size=batch_size,
            shuffle=batch_size is not None,  # a tf.data pipeline shuffles itself
            callbacks=[
                *([ValidationExactMatch(data)] if task.generates else []),
                ResumableBackup(backup_dir, history_csv, strategy),
                *stopping,
                keras.callbacks.CSVLogger(str(history_csv), append=True),
                keras.callbacks.TensorBoard(str(run_dir / "logs")),
                *callbacks,
            ],
            verbose=verbose,
        )
    train_seconds = round(time.perf_counter() - started, 2)
    with replacing(run_dir / "model.keras") as tmp:
        model.save(tmp)
    return train_seconds, padding


def _speed_settings(config, task, data, architecture, strategy):
    """(bucketing, XLA, why XLA or not): as the config says, else chosen for this data and machine."""
    bucketing = batching.lengths_vary(task, data.x_train) if config.bucketing is None else config.bucketing
    if bucketing and not task.sequence_inputs:
        raise ZooError(f"Task {task.name!r} reads no sequences: bucketing cannot apply.")
    if config.jit_compile and strategy is not None:
        raise ZooError(f"JIT_COMPILE=1 cannot train on workers: {xla.DISTRIBUTED}.")
    jit_compile, why = (config.jit_compile, "as asked") if config.jit_compile is not None else xla.choose(
        architecture, bool(task.sequence_inputs), batching.recurrent_steps(task, data.x_train, architecture),
        bucketing, distributed=strategy is not None, examples=config.epochs * len(data.y_train))
    if jit_compile:
        # Keras compiles nothing with XLA while op determinism is on (not every op has a deterministic
        # XLA kernel); XLA runs on the CPU are repeatable all the same (tests/test_xla.py).
        from tensorflow.python.framework.config import disable_op_determinism

        disable_op_determinism()
    return bucketing, jit_compile, why


def _evaluate(model, data, config):
    compile_model(model, config, data.spec, len(data.y_train))
    scores = model.evaluate(data.x_test, data.y_test, batch_size=config.batch_size, return_dict=True,
                            verbose=0)
    return {name: float(value) for name, value in scores.items()}


def train(config, run_dir=None, callbacks=(), verbose="auto", strategy=None):
    """Trains, evaluates on the test split and returns the run directory.

    RUN_DIR is checked first, and data and model are made before it: a bad file, setting or
    RUN_DIR leaves nothing behind. strategy: None (this process alone), "multi_worker" (one of the
    workers TF_CONFIG names; zoo.distributed) or "mirrored" (every GPU of this machine).
    """
    strategy = distributed.strategy(strategy)  # before TensorFlow runs anything else
    config = config.resolved()
    task = get_task(config.task)
    chief = distributed.is_chief() if strategy is not None else True
    run_dir = choose_run_dir(config, run_dir) if chief else distributed.scratch_dir(config)
    require_writable_dir(run_dir, "RUN_DIR")
    # Seeded before loading, as runs always were: a loader that draws from the global generators
    # would otherwise change the initial weights of a seed.
    keras.utils.set_random_seed(config.seed)
    tf.config.experimental.enable_op_determinism()
    data = load_data(config)
    architecture = config.architecture_for(data)
    members = len(config.members)
    with strategy.scope() if strategy else contextlib.nullcontext():
        # Each build refuses a bad architecture before RUN_DIR exists.
        if isinstance(config.ensemble, list):  # listed members, each its own architecture
            architectures = [config.member_config(k).architecture_for(data) for k in range(members)]
            model, fit_model = ensemble.members_of([task.build(data.spec, a) for a in architectures])
        else:
            model = fit_model = task.build(data.spec, architecture)
            if members > 1:
                model, fit_model = ensemble.members_of([model] * members)
        if config.augment:
            if data.spec.input_vocab_size is not None:
                raise ZooError(f"AUGMENT={config.augment} changes series of numbers; this data is token ids.")
            fit_model = augment.training_model(fit_model, config.augment, data.spec, PAD_VALUE, config.seed)
    bucketing, jit_compile, why = _speed_settings(config, task, data, architecture, strategy)
    run_dir.mkdir(parents=True, exist_ok=True)
    backup_dir, history_csv = run_dir / "backup", run_dir / "history.csv"
    trained = run_dir / "trained.json"  # written once model.keras holds the trained model
    resuming = backup_dir.exists() or trained.exists()
    if not resuming and history_csv.exists():
        history_csv.unlink()  # epochs of an attempt that left no backup are not part of this run
    write_json(run_dir / "config.json", asdict(config))
    print(f"{'Resuming' if resuming else 'Starting'} run in {run_dir}")
    if strategy is not None:
        print(f"{type(strategy).__name__}: {strategy.num_replicas_in_sync} replicas, global batch "
              f"{config.batch_size}.")

    if data.truncated:
        print(f"MAX_LEN={config.max_len} cut {data.truncated} sequences to that length.")
    if not len(data.y_val):
        print(f"No validation split: {NO_VALIDATION} Training runs all {config.epochs} epochs "
              f"({config.schedule} schedule) and keeps the last.")
    if config.chunk == "auto":
        read = f"read in chunks of {architecture.chunk}" if architecture.chunk else "read step by step"
        print(f"chunk=auto: the median training sequence has {typical_length(data.x_train)} steps, {read}.")
    if config.fcn == "auto":
        branch = ("a convolutional branch beside the recurrent one (classes of series of numbers)"
                  if architecture.fcn else "no convolutional branch (it reads classes of series)")
        print(f"fcn=auto: {branch}.")
    if config.squeeze_excite == "auto" and architecture.fcn:
        gates = "on (several channels)" if architecture.squeeze_excite else "off (one channel)"
        print(f"squeeze_excite=auto: {gates}.")
    if config.znorm == "auto" and data.x_train.ndim == 3 and data.spec.input_vocab_size is None:
        ratio = spread_ratio(data.x_train)
        said = "each series by its own mean and spread" if architecture.znorm else "the training statistics"
        print(f"znorm=auto: {said} (the series' own spreads differ {ratio:,.1f}x, 10th to 90th "
              "percentile).")
    if config.units == "auto":
        beside = architecture.fcn and architecture.layer_units[0] == AUTO_UNITS_BESIDE_FCN
        print(f"units=auto: recurrent layers of {architecture.layer_units[0]}"
              + (", beside the convolutional branch over long series." if beside else "."))
    if members > 1:
        listed = "; ".join(" ".join(f"{k}={v}" for k, v in member.items()) or "this architecture"
                           for member in config.members)
        which = f"({listed})" if isinstance(config.ensemble, list) else "of this architecture"
        print(f"ENSEMBLE: {members} members {which}, each from its own initial weights, trained side by side "
              "by their own losses; the model answers their mean.")
    write_json(run_dir / "data.json", data.contract())
    write_examples(run_dir / "examples.npz", data, task.generates)
    padding, loaded = None, trained.exists()
    if loaded:
        # Stopped after training, before metrics.json: evaluate the saved model, train nothing again.
        print("Training had finished; evaluating the saved model.")
        model = load_trained_model(run_dir / "model.keras", remedy=f"delete it and {trained}, and run the "
                                   "same command again to train anew")
        saved = json.loads(trained.read_text())
        train_seconds, padding = saved["train_seconds"], saved.get("padding")
    else:
        train_seconds, padding = _fit((model, fit_model), data, config, run_dir, callbacks, verbose, task,
                                      (bucketing, jit_compile), strategy)
        write_json(trained, {"train_seconds": train_seconds, "padding": padding})
        shutil.rmtree(backup_dir, ignore_errors=True)  # kept through fit, so that no kill loses epochs
    print(f"XLA-compiled training steps: {'on' if jit_compile else 'off'} ({why}).")
    if padding:
        print(f"Bucketing by length: {padding['bucketed']:.0%} of the steps run were padding, against "
              f"{padding['unbucketed']:.0%} with every batch padded to the longest sequence.")

    scored = {}
    if task.evaluate is not None:  # the task scores its test split itself (forecasting: beside baselines)
        scored = task.evaluate(model, data, config, run_dir)
        test = scored.pop("test")
    else:
        # A model loaded from model.keras was not made under the strategy: each worker evaluates it alone.
        with distributed.keras_multi_worker(model, None if loaded else strategy):
            test = model.evaluate(data.x_test, data.y_test, batch_size=config.batch_size,
                                  return_dict=True, verbose=0)
            if task.generates:
                test.update(decoding_metrics(model, data, config.beam))
    if members > 1:  # what each member alone scores, beside their mean
        scored["member_test"] = [_evaluate(ensemble.member(model, k), data, config)
                                 for k in range(1, members + 1)]
    with open(history_csv) as f:
        epochs_run = sum(1 for _ in csv.DictReader(f))
    results = {
        "test": {name: float(value) for name, value in test.items()},
        "epochs": epochs_run,
        "train_seconds": train_seconds,
        "resumed": resuming,
        "data": data.describe(),
        "chunk": architecture.chunk,  # what chunk="auto" came to
        "bucketing": padding,  # the share of padding in the steps run, with and without it
        "replicas": strategy.num_replicas_in_sync if strategy is not None else 1,
        "jit_compile": jit_compile,
        "ensemble": members,
        **scored,  # e.g. forecasting's baselines
    }
    if not chief:
        shutil.rmtree(run_dir, ignore_errors=True)  # its part is done; the chief writes the run
        return run_dir
    _plot_history(history_csv, run_dir / "training_curves.png")
    maps = attention_maps(model, data) if task.generates else None
    if maps:  # what the decoder's attention read while it generated a few test sources
        plot_attention(maps, run_dir / "attention.png")
    write_json(run_dir / "metrics.json", results)
    print(f"Test: {', '.join(f'{k}={v:.4f}' for k, v in results['test'].items())}")
    print(f"Run written to {run_dir}")
    return run_dir
