"""Training one run on several workers with tf.distribute.

WORKERS=N on one machine starts N processes on 127.0.0.1, each told its place by TF_CONFIG, under
`tf.distribute.MultiWorkerMirroredStrategy`: every step, each worker computes the gradients of
its share of the global batch and the workers all-reduce them, so all hold the same weights.
Worker 0 is the chief: it alone writes the run directory. The others keep what they must write
(their backups, to resume; their copy of the model) in a scratch folder of their own under the
system's temporary directory, removed when they finish. Across machines, `make train-worker` runs
one worker with the TF_CONFIG you give it. STRATEGY=mirrored trains in one process on every GPU
the machine has (`tf.distribute.MirroredStrategy`).

A worker that dies (a kill, a lost machine) stops the step every other worker waits in. The local
launcher then stops them all and starts them again, up to `max_restarts` times; all resume from the
newest epoch whose backup every one of them can read (zoo.training.ResumableBackup). A launcher
killed outright takes its workers with it (the kernel kills them), so running the same command
again does the same.
"""

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from zoo.errors import ZooError

STRATEGIES = ("multi_worker", "mirrored")
USER_ERROR = 2  # the exit code of a worker stopped by a ZooError (zoo.worker)


def cluster():
    """(index, workers) of this process in TF_CONFIG's worker list, or None where TF_CONFIG is unset."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        tf_config = json.loads(raw)
        workers = tf_config["cluster"]["worker"]
        task = tf_config["task"]
    except (ValueError, KeyError, TypeError) as error:
        raise ZooError(f"TF_CONFIG is not a cluster spec with a worker list and a task: {raw!r} "
                       f"({error}).") from None
    if task.get("type") != "worker" or not 0 <= int(task.get("index", -1)) < len(workers):
        raise ZooError(f"TF_CONFIG's task must be a worker with an index below {len(workers)}, got {task!r}.")
    return int(task["index"]), len(workers)


def write_tf_config(hosts, index):
    """TF_CONFIG for worker `index` of the comma-separated host:port list `hosts`."""
    workers = [h.strip() for h in hosts.split(",") if h.strip()]
    if not workers or any(":" not in h for h in workers):
        raise ZooError(f"--worker-hosts must be host:port entries separated by commas, got {hosts!r}.")
    if index is None or not 0 <= index < len(workers):
        raise ZooError(f"--worker-index must be one of 0..{len(workers) - 1} for {len(workers)} hosts, "
                       f"got {index}.")
    os.environ["TF_CONFIG"] = _tf_config(workers, index)


def _tf_config(workers, index):
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def strategy(name):
    """The tf.distribute strategy `name` asks for (None: none, one process on the default device).

    MultiWorkerMirroredStrategy must be made before TensorFlow runs anything in the process.
    """
    if name is None:
        return None
    import tensorflow as tf

    if name == "multi_worker":
        if cluster() is None:
            raise ZooError("The multi_worker strategy needs TF_CONFIG (make train WORKERS=N writes it).")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise ZooError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")


def is_chief():
    place = cluster()
    return place is None or place[0] == 0


def scratch_dir(config, index=None):
    """Where non-chief worker `index` (default: this one) keeps its files for a run of `config` (a
    resolved TrainConfig): the same after a restart, so that its backups resume it, on any machine."""
    index = cluster()[0] if index is None else index
    digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "rnn-zoo-workers" / f"{digest}-worker-{index}"


@contextlib.contextmanager
def keras_multi_worker(model, strategy_):
    """Lets Keras 3's Model.fit, evaluate and predict run under MultiWorkerMirroredStrategy.

    Keras 3.15 fails there in two places (keras-team/keras#20585): before the first step it
    all-reduces a batch of data to build the model, which MultiWorkerMirroredStrategy cannot do
    for a tuple of inputs and targets; and it averages each step's loss and metrics over the
    workers with `reduce(..., axis=0)`, which fails on scalars. Here the model's variables are
    made under the strategy as usual and built beforehand, Keras is told no strategy of its own
    (so it builds nothing from data) while the strategy's scope is entered around the calls, and the
    step results are averaged over the workers with axis=None. Nothing changes outside the block.
    """
    import tensorflow as tf

    if not isinstance(strategy_, tf.distribute.MultiWorkerMirroredStrategy):
        yield
        return
    import keras.src.backend.tensorflow.trainer as keras_trainer

    original = keras_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction == "auto" and keras_trainer._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None)
                                         if keras_trainer._is_per_replica_instance(v) else v, values)
        return original(values, strategy, reduction)

    with strategy_.scope():
        model.optimizer.build(model.trainable_variables)
    own, model._distribute_strategy = model._distribute_strategy, None
    keras_trainer.reduce_per_replica = reduce_per_replica
    try:
        with strategy_.scope():
            yield
    finally:
        keras_trainer.reduce_per_replica = original
        model._distribute_strategy = own


def free_ports(count):
    """`count` distinct free loopback ports (the local workers', the tuning chief's, a test server's)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _start(config, run_dir, index, ports, threads, log):  # noqa: PLR0913
    env = {
        **os.environ,
        "TF_CONFIG": _tf_config([f"127.0.0.1:{p}" for p in ports], index),
        # Each worker gets its share of the cores, so N workers do not fight over them.
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": str(threads),
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"),
        # HDF5 locks a backup file while a process has it open: a worker left behind by a killed
        # launcher held its lock and the next run could not read its backup (BlockingIOError).
        # Each worker writes its own backups and every file is read whole before it is trusted.
        "HDF5_USE_FILE_LOCKING": "FALSE",
    }
    command = [sys.executable, "-m", "zoo.worker", json.dumps(asdict(config)), str(run_dir)]
    die_with_launcher = _dies_with(os.getpid())
    # The chief's progress is the run's; the other workers' output goes to a log of their own.
    if index == 0:
        return subprocess.Popen(command, env=env, preexec_fn=die_with_launcher)  # noqa: PLW1509
    with open(log, "ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                preexec_fn=die_with_launcher)  # noqa: PLW1509


def _dies_with(launcher):
    """A preexec_fn that has the kernel kill the worker when its launcher dies however it dies
    (SIGKILL included, where no `finally` runs), so that no worker outlives its run (Linux's
    PR_SET_PDEATHSIG; elsewhere nothing)."""
    def die_with_launcher():
        try:
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
        if os.getppid() != launcher:  # the launcher died before the line above
            os._exit(1)

    return die_with_launcher


def _pid_file(config, index):
    """Where the launcher notes worker `index`'s process id for a run of `config`."""
    scratch = scratch_dir(config, index)
    return scratch.with_name(scratch.name + ".pid")


def _is_worker(pid):
    try:
        return b"zoo.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stop_stale_workers(config, workers):
    """Stops the workers of this run that an earlier launcher left running (one killed before the
    kernel could be told to take its workers with it, or on another machine's launcher): they would
    hold its ports, its files and their half of every collective. Each is named in one line."""
    for index in range(workers):
        path = _pid_file(config, index)
        try:
            pid = int(path.read_text())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and _is_worker(pid):
            print(f"Worker {index} of this run from an earlier launch (pid {pid}) is still running; "
                  "stopping it.", flush=True)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        path.unlink(missing_ok=True)


def run_local(config, run_dir, workers, max_restarts=2, on_start=None):
    """Trains `config` into `run_dir` with `workers` processes on this machine; returns their pids.

    on_start(index, process) is called for every process started (tests use it to kill one).
    Every process started is stopped by its own id before this returns.
    """
    run_dir = Path(run_dir)
    threads = max(1, (os.cpu_count() or 1) // workers)
    logs = Path(tempfile.gettempdir()) / "rnn-zoo-workers"
    logs.mkdir(parents=True, exist_ok=True)
    stop_stale_workers(config, workers)
    started = []

    def log(index):  # a non-chief worker's output
        return logs / f"{run_dir.name}-worker-{index}.log"

    def start_all():
        ports = free_ports(workers)
        group = []
        for index in range(workers):
            process = _start(config, run_dir, index, ports, threads, log(index))
            started.append(process)
            group.append(process)
            _pid_file(config, index).write_text(str(process.pid))
            if on_start:
                on_start(index, process)
        return group

    try:
        for attempt in range(max_restarts + 1):
            group = start_all()
            failed = _wait(group)
            if failed is None:
                for index in range(1, workers):
                    log(index).unlink(missing_ok=True)
                return [process.pid for process in started]
            index, code = failed
            _stop(group)
            if code == USER_ERROR:  # a bad setting or file (said above, by the chief): no retry helps
                raise ZooError(f"Worker {index} stopped on an error in the settings or data.")
            what = f"killed by signal {-code}" if code < 0 else f"exited with code {code}"
            output = f" (its output: {log(index)})" if index else ""
            if attempt == max_restarts:
                raise ZooError(f"Worker {index} {what}{output}; run the same command again to resume "
                               f"{run_dir} from its last finished epoch.")
            print(f"Worker {index} {what}; starting the {workers} workers again to resume from the "
                  "last finished epoch.", flush=True)
    finally:
        _stop(started)
        for index in range(workers):
            _pid_file(config, index).unlink(missing_ok=True)


def _wait(group):
    """Waits until every process exits 0 (None) or one fails: (its index, its exit code)."""
    while True:
        codes = [process.poll() for process in group]
        for index, code in enumerate(codes):
            if code not in (None, 0):
                return index, code
        if all(code == 0 for code in codes):
            return None
        time.sleep(0.2)


def _stop(processes):
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
