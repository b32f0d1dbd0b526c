"""The `rnn-zoo` command: `tasks`, `presets`, `train --task ... | --preset ...`, `tune --task ...`,
`export --run-dir ...`, `serve`, `zoo`, and `settings` (for make)."""

import os

# TensorFlow reads this when it is first imported: keep its C++ start-up chatter out of the way.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import errno  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from dataclasses import fields  # noqa: E402

from serving.settings import Batching  # noqa: E402  (light)
from zoo.config import SEARCHABLE, TrainConfig, flag_name, parse_switch  # noqa: E402  (light)
from zoo.presets import ZOO_RUNS, ZOO_SEED  # noqa: E402  (light)

# The file system's complaints as TensorFlow and h5py word them inside their own error types.
FILE_SYSTEM_WORDS = tuple(os.strerror(code)
                          for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES))
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


# The TrainConfig settings each command takes; `rnn-zoo settings COMMAND` lists them for make.
SETTINGS = {
    "train": tuple(f.name for f in fields(TrainConfig)),
    "tune": ("task", "dataset", "data", "val_data", "test_data", "epochs", "batch_size", "patience", "seed",
             "max_len", "limit", "options", *SEARCHABLE),
}
MAKE_GIVES = ("task", "preset")  # the Makefile's TASK (which has a default) and PRESET, its own way


def _store(namespace, name, value):
    """A setting as read; OPTIONS (a dict) adds to the ones given before it."""
    before = getattr(namespace, name)
    setattr(namespace, name, {**before, **value} if isinstance(value, dict) and before else value)


class _Given(argparse.Action):
    def __call__(self, parser, namespace, value, option_string=None):
        _store(namespace, self.dest, value)


class _Setting(argparse.Action):
    """--setting NAME=VALUE: any setting the command takes, by name (any case), read as its flag reads it."""

    def __init__(self, *args, settings, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = settings

    def __call__(self, parser, namespace, text, option_string=None):
        name, sep, value = text.partition("=")
        setting = self.settings.get(name.lower())
        if not sep or setting is None:
            raise argparse.ArgumentError(self, f"expected NAME=VALUE, NAME one of "
                                         f"{', '.join(n.upper() for n in self.settings)}; got {text!r}")
        try:
            value = setting.metadata["parse"](value)
        except ValueError:
            raise argparse.ArgumentError(self, f"invalid {name.upper()} value: {value!r}") from None
        _store(namespace, setting.name, value)


def _add_settings(parser, names, **helps):
    """A flag for each TrainConfig setting named (--no-NAME too for a true/false one), from its field;
    `helps` says one otherwise for this command. Each is None when not given."""
    for setting in fields(TrainConfig):
        if setting.name not in names:
            continue
        parse, text = setting.metadata["parse"], helps.get(setting.name, setting.metadata["help"])
        if parse is parse_switch:
            parser.add_argument(flag_name(setting), dest=setting.name, action=argparse.BooleanOptionalAction,
                                help=text)
        else:
            parser.add_argument(flag_name(setting), dest=setting.name, type=parse, action=_Given, help=text)


def _add_setting_flag(parser, command):
    settings = {f.name: f for f in fields(TrainConfig) if f.name in SETTINGS[command]}
    parser.add_argument("--setting", action=_Setting, settings=settings, metavar="NAME=VALUE",
                        help="any of these settings by its make variable, as make passes them on "
                        "(BIDIRECTIONAL=0, UNITS=128,64, OPTIONS='seq_len=200 seed=1')")


def _given(args, command):
    """The settings given for `command`, by name."""
    return {name: getattr(args, name) for name in SETTINGS[command] if getattr(args, name) is not None}


def _version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rnn-zoo")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def _parser():
    parser = argparse.ArgumentParser(prog="rnn-zoo", description=__doc__)
    parser.add_argument("--version", action="version", version=f"rnn-zoo {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("tasks", help="list the tasks, their shapes, data sets, losses and metrics")

    commands.add_parser("presets", help="list the presets (tuned models per data set) and their test figures")

    train = commands.add_parser("train", help="train a task's model into a run directory")
    # TrainConfig's settings, None when not given: the preset's, else the task's defaults, apply.
    _add_settings(train, SETTINGS["train"])
    _add_setting_flag(train, "train")
    train.add_argument("--run-dir", help="default: runs/<task>/<dataset>-<time>, or the unfinished "
                       "run of the same settings")
    train.add_argument("--workers", type=int, help="train with N worker processes on this machine "
                       "(tf.distribute.MultiWorkerMirroredStrategy)")
    train.add_argument("--worker-hosts", help="host:port of every worker, in the same order on each "
                       "machine (writes TF_CONFIG; or set TF_CONFIG yourself)")
    train.add_argument("--worker-index", type=int, help="this machine's place in --worker-hosts (0: the "
                       "chief, which writes the run directory)")
    train.add_argument("--strategy", choices=("mirrored",), help="mirrored: every GPU of this machine "
                       "(tf.distribute.MirroredStrategy)")

    tune = commands.add_parser("tune", help="search depth, hidden sizes, cell and more with KerasTuner")
    tune.add_argument("--tuner", default="random", help="random, bayesian or hyperband")
    tune.add_argument("--max-trials", type=int, default=10)
    tune.add_argument("--tune-dir", default="tuning_runs")
    tune.add_argument("--workers", type=int, default=1,
                      help="worker processes under a local KerasTuner chief on 127.0.0.1")
    # Left out, TuneConfig's: 20 epochs per trial, patience 5, seed 42.
    _add_settings(tune, set(SETTINGS["tune"]) - set(SEARCHABLE), task="the task (required)",
                  epochs="per trial (hyperband: its max_epochs)",
                  patience="epochs without a better validation score before a trial stops")
    _add_settings(tune.add_argument_group("fixed values (searched when left out)"), SEARCHABLE)
    _add_setting_flag(tune, "tune")

    settings = commands.add_parser("settings", help="the settings a command takes, as make variables "
                                   "(how the Makefile passes them on)")
    settings.add_argument("for_command", metavar="COMMAND", choices=tuple(SETTINGS))

    export = commands.add_parser("export", help="export a finished run as SavedModel and ONNX, verified")
    export.add_argument("--run-dir", required=True)
    export.add_argument("--export-dir", default="exports")
    export.add_argument("--name", help="model name, the directory under EXPORT_DIR (default: the task)")
    export.add_argument("--quantize", default="none",
                        help="none, or dynamic: int8 model.int8.onnx and model.int8.tflite beside the "
                        "float32 files")

    catalogue = commands.add_parser("zoo", help="train every preset (one seed) and export each, with a model "
                                    "card, into one model repository with catalog.json; resumes")
    catalogue.add_argument("--zoo-dir", default="zoo_exports")
    catalogue.add_argument("--runs-dir", default=str(ZOO_RUNS), help="the presets' run directories")
    catalogue.add_argument("--preset", action="append", help="only these presets (default: every one)")
    catalogue.add_argument("--seed", type=int, default=ZOO_SEED)
    catalogue.add_argument("--epochs", type=int, help="fewer epochs than the presets', for a quick check")
    catalogue.add_argument("--limit", type=int, help="only the first N examples of each split, likewise")

    serve = commands.add_parser("serve", help="serve every export in a folder: TF Serving REST and KServe V2")
    serve.add_argument("--export-dir", default="exports")
    serve.add_argument("--runtime", default="onnx", choices=("onnx", "savedmodel"))
    serve.add_argument("--host", default="127.0.0.1", help="address to bind; 0.0.0.0 opens it to the network")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--all-versions", action="store_true",
                       help="serve every version, not only the highest of each model")
    serve.add_argument("--poll-seconds", type=float, default=1.0,
                       help="how often to look for new, removed or replaced versions")
    serve.add_argument("--max-body-mb", type=float, default=32, help="larger request bodies get 413")
    serve.add_argument("--max-elements", type=int, help="values one input of a request may hold "
                       "(batch x steps x features; default 1,000,000); more get 413")
    serve.add_argument("--request-timeout", type=float, help="seconds a request's headers may take to "
                       "arrive, or its body may pause (default 30); then 408")
    serve.add_argument("--batching", action=argparse.BooleanOptionalAction, default=True,
                       help="merge concurrent requests for a model version into one model call (default on)")
    for setting in fields(Batching):
        serve.add_argument("--" + setting.name.replace("_", "-"), type=type(setting.default),
                           help=f"{setting.metadata['help']} (default {setting.default:g})")
    return parser


def _serve(args):
    from serving.server import serve

    batching = Batching(**{setting.name: getattr(args, setting.name) for setting in fields(Batching)
                           if getattr(args, setting.name) is not None}) if args.batching else None
    serve(args.export_dir, runtime=args.runtime, host=args.host, port=args.port,
          all_versions=args.all_versions, poll_seconds=args.poll_seconds,
          max_body_bytes=int(args.max_body_mb * (1 << 20)), batching=batching,
          **{name: getattr(args, name) for name in ("max_elements", "request_timeout")
             if getattr(args, name) is not None})


def _tune(args):
    from tuning import TuneConfig, tune
    from zoo.errors import ZooError

    given = _given(args, "tune")
    if "task" not in given:
        raise ZooError("tune needs --task (TASK=); rnn-zoo tasks lists them.")
    fixed = {name: given.pop(name) for name in SEARCHABLE if name in given}
    tune(TuneConfig(**given, fixed=fixed, tuner=args.tuner, max_trials=args.max_trials,
                    tune_dir=args.tune_dir, workers=args.workers))


def _export(args):
    from export import export_run

    version_dir = export_run(args.run_dir, args.export_dir, args.name, args.quantize)
    metadata = json.loads((version_dir / "metadata.json").read_text())
    names = {"savedmodel": "SavedModel", "onnx": "ONNX Runtime", "onnx_reference": "onnx.reference",
             "litert": "LiteRT"}
    worst = ", ".join(f"{names.get(runtime, runtime)} {difference:.2g}"
                      for runtime, difference in metadata["verification"]["max_abs_diff"].items())
    print(f"Exported {version_dir}: every artifact gives Keras' answer (max abs difference: {worst}).")
    if metadata["verification"].get("onnx_reference_error"):
        print(f"Not checked in onnx.reference: {metadata['verification']['onnx_reference_error']}")
    if not metadata["litert"]["file"]:
        print(f"No model.tflite: {metadata['litert']['unsupported']}")


def _print_tasks():
    import zoo
    from zoo.registry import loss_and_metrics

    header = ("task", "input -> output", "default data set", "loss", "metrics", "data sets",
              "your files (DATA=)")
    rows = [header]
    for name in zoo.list_tasks():
        task = zoo.get_task(name)
        kinds = sorted({task.kind(dataset) for dataset in task.datasets})
        losses, metrics = zip(*(loss_and_metrics(kind) for kind in kinds))
        metrics = [", ".join(m) for m in metrics]
        if task.loss is not None:  # its own loss and scores, each named on its first docstring line
            losses, metrics = [task.loss.__doc__.split(":")[0]], [task.evaluate.__doc__.split(":")[0]]
        if task.generates:
            metrics = [f"{m}, exact_match, decoded_token_accuracy, error_rate" for m in metrics]
        extensions = sorted({extension for f in task.formats for extension in f.extensions})
        rows.append((name, task.shape, task.default_dataset, " | ".join(losses), " | ".join(metrics),
                     ", ".join(task.datasets), " ".join(extensions)))
    _print_table(rows)


def train_config(args):
    """The TrainConfig that `rnn-zoo train` arguments give: the task's, or the preset's with the
    settings given beside it."""
    from zoo.presets import config_of

    given = _given(args, "train")
    return config_of(given.pop("task", None), given.pop("preset", None), **given)


def _train(args):
    _train_where_asked(train_config(args), args)


def _train_where_asked(config, args):
    """In this process; with --workers, in N local worker processes; with TF_CONFIG (or
    --worker-hosts), as one worker of a cluster; with --strategy mirrored, on every local GPU."""
    from zoo import distributed
    from zoo.architecture import require_positive_int
    from zoo.errors import ZooError
    from zoo.training import choose_run_dir, require_writable_dir, train

    if args.worker_hosts is not None:
        distributed.write_tf_config(args.worker_hosts, args.worker_index)
    cluster = distributed.cluster()
    if sum((args.workers is not None, cluster is not None, args.strategy is not None)) > 1:
        raise ZooError("Give one of --workers (local processes), TF_CONFIG or --worker-hosts (a cluster), "
                       "--strategy mirrored.")
    if args.workers is not None:
        require_positive_int("workers", args.workers)
        config = config.resolved()
        run_dir = choose_run_dir(config, args.run_dir)
        require_writable_dir(run_dir, "RUN_DIR")
        distributed.run_local(config, run_dir, args.workers)
        print(f"Run written to {run_dir} by {args.workers} workers")
        return
    train(config, run_dir=args.run_dir,
          strategy="multi_worker" if cluster is not None else args.strategy)


def _zoo(args):
    """Trains each preset unless its run finished, exports it unless that run is exported, writes its
    model card, and rewrites the index after each model: an interrupted `make zoo` resumes."""
    import json
    from pathlib import Path

    from export import export_run
    from export.catalogue import newest_version, write_index, write_model_card
    from zoo.presets import get_preset, list_presets
    from zoo.training import train

    quick = {name: getattr(args, name) for name in ("epochs", "limit") if getattr(args, name) is not None}
    zoo_dir, runs_dir = Path(args.zoo_dir), Path(args.runs_dir)
    names = args.preset or list_presets()
    for number, name in enumerate(names, 1):
        print(f"[{number}/{len(names)}] {name}", flush=True)
        run_dir = runs_dir / name
        if not (run_dir / "metrics.json").exists():
            train(get_preset(name).config(seed=args.seed, **quick), run_dir=run_dir, verbose=2)
        newest = newest_version(zoo_dir / name)
        run = json.loads((run_dir / "config.json").read_text())
        if newest is None or json.loads((newest / "metadata.json").read_text())["run"] != run:
            export_run(run_dir, zoo_dir, name)
        write_model_card(zoo_dir / name)
        write_index(zoo_dir)
    print(f"{len(names)} models in {zoo_dir}: catalog.json, CATALOG.md; serve them with "
          f"make serve EXPORT_DIR={zoo_dir}")


def _print_presets():
    from zoo.presets import get_preset, list_presets, recorded_results

    results = recorded_results()
    header = ("preset", "task", "data set", "model; training", "test (mean over seeds)", "baseline")
    rows = [header]
    for name in list_presets():
        preset, figures = get_preset(name), results.get(name, {})
        rows.append((name, preset.task, preset.dataset, preset.describe(),
                     figures.get("test", "not yet measured"), figures.get("baseline", "")))
    _print_table(rows)
    print("Train one: make train PRESET=<name> [DATA=<your file>]. "
          "Figures: docs/pages/results.md (make bench-results).")


def _print_table(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def import_tensorflow_quietly():
    """Imports TensorFlow and finds its devices with stderr closed for that moment only.

    TensorFlow's C++ side writes its start-up lines (oneDNN, CUDA stubs, cuInit) to file
    descriptor 2 before its logging is set up, where TF_CPP_MIN_LOG_LEVEL cannot reach them.
    """
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    sys.stderr.flush()
    os.dup2(null, 2)
    try:
        import absl.logging
        import tensorflow as tf

        tf.config.list_physical_devices()
        # Python-side warnings a user cannot act on: retracing while `make zoo` trains model after
        # model, and the LiteRT converter's deprecation notes.
        tf.get_logger().setLevel("ERROR")
        absl.logging.set_verbosity(absl.logging.ERROR)
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _one_line(text):
    return re.sub(r"\s*\n\s*", " ", text).strip()


def file_system_error(error):
    """One line for an error of the user's file system (permission, full disk, a file where a folder
    should be), naming the path; None for anything else, which keeps its traceback.

    An OSError names its path in filename (and filename2, for a rename); one with neither but an
    errno is an operating system call that failed. TensorFlow and h5py wrap a full disk or a
    denied write in their own types, with the path in the message.
    """
    if isinstance(error, OSError) and (error.filename is not None or error.errno is not None):
        where = " -> ".join(str(name) for name in (error.filename, error.filename2) if name is not None)
        text = _one_line(error.strerror or str(error))
        return f"{where}: {text}" if where else f"{type(error).__name__}: {text}"
    message = getattr(error, "message", None) or str(error)  # tf.errors.OpError keeps it in .message
    if any(words in message for words in FILE_SYSTEM_WORDS):
        return _one_line(re.sub(r"\{\{function_node [^}]*\}\}", "", message))
    return None


def _run(args):
    if args.command == "settings":  # read by make before every train and tune: no TensorFlow
        print(" ".join(name.upper() for name in SETTINGS[args.for_command] if name not in MAKE_GIVES))
        return
    # Listing reads the registry alone, and the ONNX server loads no TensorFlow.
    if args.command not in ("tasks", "presets") and not (args.command == "serve" and args.runtime == "onnx"):
        import_tensorflow_quietly()
    if args.command == "tasks":
        _print_tasks()
    elif args.command == "presets":
        _print_presets()
    elif args.command == "train":
        _train(args)
    elif args.command == "tune":
        _tune(args)
    elif args.command == "export":
        _export(args)
    elif args.command == "zoo":
        _zoo(args)
    else:
        _serve(args)


def main(argv=None):
    """Runs a command: the user's errors (ZooError, the file system, Ctrl-C) are one line on stderr
    and a non-zero exit; anything else is a bug and keeps its traceback.
    """
    args = _parser().parse_args(argv)
    from zoo.errors import ZooError

    try:
        _run(args)
    except ZooError as error:
        print(f"rnn-zoo: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        resumes = args.command in ("train", "tune", "zoo")
        print(f"rnn-zoo: interrupted{'; run the same command again to resume' if resumes else ''}",
              file=sys.stderr)
        return INTERRUPTED
    except Exception as error:
        line = file_system_error(error)
        if line is None:
            raise
        print(f"rnn-zoo: error: {line}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
