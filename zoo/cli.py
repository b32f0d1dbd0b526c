"""The `rnn-zoo` command: `tasks`, `presets`, `train --task ... | --preset ...`, `tune --task ...`,
`export --run-dir ...`, `serve`."""

import os

# TensorFlow reads this when it is first imported: keep its C++ start-up chatter out of the way.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import ast  # noqa: E402
import errno  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402

# The file system's complaints as TensorFlow and h5py word them inside their own error types.
FILE_SYSTEM_WORDS = tuple(os.strerror(code)
                          for code in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES))
INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


def _option(text):
    """KEY=VALUE, the value read as a Python literal when it is one (seq_len=200 -> 200)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def _units(text):
    sizes = [int(size) for size in text.split(",")]
    return sizes[0] if len(sizes) == 1 else sizes


def _switch(text):
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected 1 or 0, got {text!r}")


def _chunk(text):
    return text if text == "auto" else int(text)


def _data_arguments(parser):
    parser.add_argument("--data", help="your own data: a file, or a folder with train.* and optionally "
                        "validation.* (or dev.*) and test.*; the format follows the extension")
    parser.add_argument("--val-data", help="the validation file (default: cut from the training file)")
    parser.add_argument("--test-data", help="the test file (default: cut from the training file)")


def _parser():
    parser = argparse.ArgumentParser(prog="rnn-zoo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("tasks", help="list the tasks, their shapes, data sets, losses and metrics")

    commands.add_parser("presets", help="list the presets (tuned models per data set) and their test figures")

    train = commands.add_parser("train", help="train a task's model into a run directory")
    train.add_argument("--task", help="the task (or --preset)")
    train.add_argument("--preset", help="a preset's architecture and settings (rnn-zoo presets); any "
                       "setting given beside it wins, and --data trains it on your file")
    train.add_argument("--dataset", help="default: the task's default data set (with --data: a name "
                       "for the run, default the file's)")
    _data_arguments(train)
    # Spelled out, not read from zoo.CELLS: importing zoo loads TensorFlow, which `serve` does without.
    # Defaults are TrainConfig's (lstm, 1 layer, 64 units), or the preset's: None here means not given.
    train.add_argument("--cell", help="simple_rnn, lstm or gru (default lstm)")
    train.add_argument("--bidirectional", action="store_true", default=None)
    train.add_argument("--layers", type=int, help="stacked recurrent layers (default 1)")
    train.add_argument("--units", type=_units, help="hidden size of every layer (default 64), or of each "
                       "layer (128,64)")
    train.add_argument("--dropout", type=float)
    train.add_argument("--readout", help="many_to_one: last (the last real step) or mean (over the real "
                       "steps)")
    train.add_argument("--chunk", type=_chunk, help="steps (or a vector's features) one recurrent step "
                       "reads; auto: at most 16 recurrent steps for the longest training sequence")
    train.add_argument("--schedule", help="constant (early stopping, best epoch kept) or cosine "
                       "(every epoch runs, the rate decays to 0)")
    train.add_argument("--clipnorm", type=float, help="clip each update's gradient norm to this")
    train.add_argument("--epochs", type=int, help="at most this many; early stopping may end sooner")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--learning-rate", type=float)
    train.add_argument("--patience", type=int, help="epochs without a better validation loss "
                       "before early stopping")
    train.add_argument("--seed", type=int, help="default 42")
    train.add_argument("--max-len", type=int, help="cut longer sequences (the run says how many)")
    train.add_argument("--limit", type=int, help="keep only the first N examples of each split")
    train.add_argument("--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                       help="a data set option, e.g. seq_len=200 for the adding problem")
    train.add_argument("--run-dir", help="default: runs/<task>/<dataset>-<time>, or the unfinished "
                       "run of the same settings")
    train.add_argument("--bucketing", type=_switch, help="1: batches of similar lengths, each padded to "
                       "its own longest row; 0: off (default: on where the lengths vary)")
    train.add_argument("--jit-compile", type=_switch, help="1: XLA-compiled training steps; 0: not "
                       "(default: where make bench-train measured them faster, and batches keep one shape)")
    train.add_argument("--workers", type=int, help="train with N worker processes on this machine "
                       "(tf.distribute.MultiWorkerMirroredStrategy)")
    train.add_argument("--worker-hosts", help="host:port of every worker, in the same order on each "
                       "machine (writes TF_CONFIG; or set TF_CONFIG yourself)")
    train.add_argument("--worker-index", type=int, help="this machine's place in --worker-hosts (0: the "
                       "chief, which writes the run directory)")
    train.add_argument("--strategy", choices=("mirrored",), help="mirrored: every GPU of this machine "
                       "(tf.distribute.MirroredStrategy)")

    tune = commands.add_parser("tune", help="search depth, hidden sizes, cell and more with KerasTuner")
    tune.add_argument("--task", required=True)
    tune.add_argument("--dataset")
    _data_arguments(tune)
    tune.add_argument("--tuner", default="random", help="random, bayesian or hyperband")
    tune.add_argument("--max-trials", type=int, default=10)
    tune.add_argument("--epochs", type=int, default=20, help="per trial (hyperband: its max_epochs)")
    tune.add_argument("--batch-size", type=int)
    tune.add_argument("--seed", type=int, default=42)
    tune.add_argument("--tune-dir", default="tuning_runs")
    tune.add_argument("--max-len", type=int)
    tune.add_argument("--limit", type=int)
    tune.add_argument("--option", type=_option, action="append", default=[], metavar="KEY=VALUE")
    tune.add_argument("--workers", type=int, default=1,
                      help="worker processes under a local KerasTuner chief on 127.0.0.1")
    fixed = tune.add_argument_group("fixed values (searched when left out)")
    fixed.add_argument("--cell")
    fixed.add_argument("--bidirectional", type=int, choices=(0, 1))
    fixed.add_argument("--layers", type=int)
    fixed.add_argument("--units", type=int, help="every layer's hidden size")
    fixed.add_argument("--dropout", type=float)
    fixed.add_argument("--learning-rate", type=float)

    export = commands.add_parser("export", help="export a finished run as SavedModel and ONNX, verified")
    export.add_argument("--run-dir", required=True)
    export.add_argument("--export-dir", default="exports")
    export.add_argument("--name", help="model name, the directory under EXPORT_DIR (default: the task)")

    catalogue = commands.add_parser("zoo", help="train every preset (one seed) and export each, with a model "
                                    "card, into one model repository with catalog.json; resumes")
    catalogue.add_argument("--zoo-dir", default="zoo_exports")
    catalogue.add_argument("--runs-dir", default="runs/zoo", help="the presets' run directories")
    catalogue.add_argument("--preset", action="append", help="only these presets (default: every one)")
    catalogue.add_argument("--seed", type=int, default=42)
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
    return parser


def _serve(args):
    from serving.server import serve

    serve(args.export_dir, runtime=args.runtime, host=args.host, port=args.port,
          all_versions=args.all_versions, poll_seconds=args.poll_seconds,
          max_body_bytes=int(args.max_body_mb * (1 << 20)),
          **{name: getattr(args, name) for name in ("max_elements", "request_timeout")
             if getattr(args, name) is not None})


def _tune(args):
    from tuning import TuneConfig, tune

    fixed = {name: getattr(args, name) for name in
             ("cell", "bidirectional", "layers", "units", "dropout", "learning_rate")
             if getattr(args, name) is not None}
    if "bidirectional" in fixed:
        fixed["bidirectional"] = bool(fixed["bidirectional"])
    tune(TuneConfig(
        task=args.task, dataset=args.dataset, tuner=args.tuner, max_trials=args.max_trials,
        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, tune_dir=args.tune_dir,
        fixed=fixed, max_len=args.max_len, limit=args.limit, options=dict(args.option),
        workers=args.workers, data=args.data, val_data=args.val_data, test_data=args.test_data,
    ))


def _export(args):
    from export import export_run

    version_dir = export_run(args.run_dir, args.export_dir, args.name)
    metadata = json.loads((version_dir / "metadata.json").read_text())
    names = {"savedmodel": "SavedModel", "onnx": "ONNX Runtime", "onnx_reference": "onnx.reference",
             "litert": "LiteRT"}
    worst = ", ".join(f"{names.get(runtime, runtime)} {difference:.2g}"
                      for runtime, difference in metadata["verification"]["max_abs_diff"].items())
    print(f"Exported {version_dir}: every artifact gives Keras' answer (max abs difference: {worst}).")
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
            metrics = [f"{m}, exact_match, decoded_token_accuracy" for m in metrics]
        extensions = sorted({extension for f in task.formats for extension in f.extensions})
        rows.append((name, task.shape, task.default_dataset, " | ".join(losses), " | ".join(metrics),
                     ", ".join(task.datasets), " ".join(extensions)))
    _print_table(rows)


def _train(args):
    from zoo.errors import ZooError
    from zoo.presets import get_preset
    from zoo.training import TrainConfig

    given = {name: getattr(args, name) for name in (
        "dataset", "cell", "bidirectional", "layers", "units", "dropout", "readout", "chunk", "schedule",
        "clipnorm", "epochs", "batch_size", "learning_rate", "patience", "seed", "max_len", "limit",
        "data", "val_data", "test_data", "bucketing", "jit_compile") if getattr(args, name) is not None}
    if args.option:
        given["options"] = dict(args.option)
    if args.preset is None:
        if args.task is None:
            raise ZooError("train needs --task (TASK=) or --preset (PRESET=); rnn-zoo presets lists them.")
        config = TrainConfig(task=args.task, **given)
    else:
        preset = get_preset(args.preset)
        if args.task not in (None, preset.task):
            raise ZooError(f"Preset {preset.name!r} is for task {preset.task!r}, not {args.task!r}.")
        config = preset.config(**given)
    _train_where_asked(config, args)


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
    print("Train one: make train PRESET=<name> [DATA=<your file>]. Figures: RESULTS.md (make bench-results).")


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
    if not (args.command == "serve" and args.runtime == "onnx"):  # the ONNX server loads no TensorFlow
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
