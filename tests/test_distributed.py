"""Training with tf.distribute: two local workers write the run a single process writes, a killed
worker's run resumes from its last epoch, and every process started is stopped by its pid."""

import csv
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict

import psutil
import pytest

from export import export_run
from zoo import distributed
from zoo.errors import ZooError
from zoo.training import TrainConfig, train

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it

# Sequences of varying length (JapaneseVowels), so that the workers also bucket them.
TINY = {"task": "many_to_one", "dataset": "japanese_vowels", "cell": "gru", "units": 8, "limit": 64,
        "batch_size": 16, "learning_rate": 1e-2, "schedule": "constant", "patience": 50}


# Enough epochs that a run whose launcher is killed after its workers restart, then started again and
# killed once more, is still running then.
EPOCHS_KILLED = 20


def _files(run_dir):
    return sorted(p.name for p in run_dir.iterdir())


def _epochs(run_dir):
    with open(run_dir / "history.csv") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _dead(pids):
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        return False
    return True


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    return train(TrainConfig(**TINY, epochs=3), run_dir=tmp_path_factory.mktemp("single") / "run", verbose=0)


def test_two_workers_write_the_run_one_process_writes_and_it_exports(single, tmp_path):
    config = TrainConfig(**TINY, epochs=3).resolved()
    pids = distributed.run_local(config, tmp_path / "run", workers=2)
    run_dir = tmp_path / "run"
    assert _files(run_dir) == _files(single)
    assert _epochs(run_dir) == [0, 1, 2]
    metrics, alone = (json.loads((d / "metrics.json").read_text()) for d in (run_dir, single))
    assert metrics["replicas"] == 2 and alone["replicas"] == 1
    assert metrics["bucketing"]["bucketed"] < metrics["bucketing"]["unbucketed"]
    # The same global batches and updates, summed in another order: the same model to float error.
    assert metrics["test"]["loss"] == pytest.approx(alone["test"]["loss"], rel=0.02)
    assert len(pids) == 2 and _dead(pids)
    assert not distributed.scratch_dir(config, 1).exists()  # the other worker's files are gone
    export_run(run_dir, tmp_path / "exports", "vowels")
    assert (tmp_path / "exports" / "vowels" / "1" / "model.onnx").is_file()


def _backed_up_epoch(backup_dir):
    """The epoch a backup holds (0 before the first); a file caught while Keras writes it is read again."""
    path = backup_dir / "training_metadata.json"
    for _ in range(200):
        if not path.exists():
            return 0
        try:
            return json.loads(path.read_text())["epoch"]
        except json.JSONDecodeError:
            time.sleep(0.01)
    raise AssertionError(f"{path} stayed half-written for 2 s")


def test_a_run_killed_as_a_whole_resumes_with_the_same_command(tmp_path, capfd):
    """Worker 1 killed after epoch 3, then the launcher itself (SIGKILL: no `finally` runs) while the
    workers it started again resume: none of them outlives it. Then worker 1's last backup is torn, as
    a kill while writing it leaves it, unless it is already behind the chief's: the newest epoch both
    can read is behind the chief's last, the chief goes back to its backup of that epoch too, so their
    steps pair up. The same run started again, its worker 1 killed once more (the launcher restarts
    both itself), finishes with every epoch once."""
    config = TrainConfig(**TINY, epochs=EPOCHS_KILLED).resolved()
    run_dir = tmp_path / "run"
    launch = ("import json, sys; from zoo import distributed; from zoo.training import TrainConfig; "
              "distributed.run_local(TrainConfig(**json.loads(sys.argv[1])), sys.argv[2], workers=2)")
    launcher = subprocess.Popen([sys.executable, "-c", launch, json.dumps(asdict(config)), str(run_dir)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while _backed_up_epoch(run_dir / "backup") < 3:
            assert launcher.poll() is None and time.monotonic() < deadline, "the run ended before epoch 3"
            time.sleep(0.05)
        first = psutil.Process(launcher.pid).children()
        worker = next(p for p in first if '"index": 1' in p.environ().get("TF_CONFIG", ""))
        worker.kill()
        while len({p.pid for p in psutil.Process(launcher.pid).children()} - {p.pid for p in first}) < 2:
            assert time.monotonic() < deadline, "the launcher did not start the workers again"
            time.sleep(0.05)
        time.sleep(3)  # the new workers import TensorFlow, agree on an epoch, load their backups
        workers = psutil.Process(launcher.pid).children()
    finally:
        launcher.kill()
        launcher.wait()
    _, alive = psutil.wait_procs(workers, timeout=20)
    assert not alive, f"workers outlived their launcher: {alive}"
    backup = distributed.scratch_dir(config, 1) / "backup"
    if _backed_up_epoch(backup) >= _backed_up_epoch(run_dir / "backup"):
        weights = backup / "latest.weights.h5"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    capfd.readouterr()
    # The same command; its worker 1 is killed once more two epochs on, and the launcher starts both
    # again itself (four processes in all).
    start, killed = _backed_up_epoch(run_dir / "backup"), []

    def kill_two_epochs_on(index, process):
        if index != 1 or killed:
            return

        def watch():
            while process.poll() is None and _backed_up_epoch(run_dir / "backup") <= start + 1:
                time.sleep(0.02)
            if process.poll() is None:
                process.kill()
                killed.append(process.pid)

        threading.Thread(target=watch, daemon=True).start()

    pids = distributed.run_local(config, run_dir, workers=2, on_start=kill_two_epochs_on)
    assert killed, "the worker finished before it could be killed"
    assert len(pids) == 4 and _dead(pids)
    assert "this one resumes from its backup of epoch" in capfd.readouterr().out
    assert json.loads((run_dir / "metrics.json").read_text())["resumed"] is True
    assert _epochs(run_dir) == list(range(EPOCHS_KILLED))  # every epoch once: none lost, none twice


def test_a_worker_an_earlier_launch_left_running_is_named_and_stopped(capsys):
    config = TrainConfig(**TINY, epochs=1).resolved()
    stale = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "zoo.worker"])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # not a worker
    try:
        distributed.scratch_dir(config, 1).parent.mkdir(parents=True, exist_ok=True)
        distributed._pid_file(config, 1).write_text(str(stale.pid))
        distributed._pid_file(config, 0).write_text(str(other.pid))
        distributed.stop_stale_workers(config, 2)
        assert stale.wait(10) == -9 and other.poll() is None
        assert f"Worker 1 of this run from an earlier launch (pid {stale.pid}) is still running" in \
            capsys.readouterr().out
        assert not distributed._pid_file(config, 0).exists()
    finally:
        for process in (stale, other):
            process.kill()
            process.wait()


def test_a_worker_that_keeps_dying_stops_the_run_with_what_to_do(tmp_path):
    config = TrainConfig(**TINY, epochs=40).resolved()

    def kill(index, process):
        if index == 1:
            process.kill()

    with pytest.raises(ZooError, match="Worker 1 killed by signal 9.*run the same command again"):
        distributed.run_local(config, tmp_path / "run", workers=2, max_restarts=0, on_start=kill)


def test_an_ensemble_trains_on_two_workers_and_exports(tmp_path):
    """ENSEMBLE=2 on workers: the members' layers made under the strategy, each member scored alone."""
    config = TrainConfig(**TINY, epochs=2, ensemble=2).resolved()
    distributed.run_local(config, tmp_path / "run", workers=2)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["replicas"] == 2 and metrics["ensemble"] == 2 and len(metrics["member_test"]) == 2
    version = export_run(tmp_path / "run", tmp_path / "exports", "vowels")
    assert json.loads((version / "metadata.json").read_text())["verification"]["passed"]


def test_the_mirrored_strategy_trains_in_this_process(tmp_path):
    run_dir = train(TrainConfig(**TINY, epochs=1), run_dir=tmp_path / "run", verbose=0, strategy="mirrored")
    assert json.loads((run_dir / "metrics.json").read_text())["replicas"] >= 1


@pytest.mark.parametrize(("hosts", "index", "message"), [
    ("a:1,b", 0, "host:port entries"),
    ("a:1,b:2", 2, "must be one of 0..1 for 2 hosts, got 2"),
])
def test_worker_hosts_are_checked(monkeypatch, hosts, index, message):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ZooError, match=message):
        distributed.write_tf_config(hosts, index)


def test_tf_config_names_this_worker(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{}")
    distributed.write_tf_config("a:1,b:2", 1)
    assert distributed.cluster() == (1, 2)
    monkeypatch.setenv("TF_CONFIG", "not json")
    with pytest.raises(ZooError, match="TF_CONFIG is not a cluster spec"):
        distributed.cluster()


def test_the_cli_refuses_two_ways_of_distributing_at_once(monkeypatch, capsys):
    from zoo.cli import main

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert main(["train", "--task", "many_to_one", "--workers", "2"]) == 2
    assert "Give one of --workers" in capsys.readouterr().err


def test_a_setting_the_workers_refuse_stops_the_run_without_retrying(tmp_path):
    config = TrainConfig(**TINY, epochs=1, jit_compile=True).resolved()
    started = []
    with pytest.raises(ZooError, match="stopped on an error in the settings or data"):
        distributed.run_local(config, tmp_path / "run", workers=2,
                              on_start=lambda _, process: started.append(process.pid))
    assert len(started) == 2 and _dead(started)
