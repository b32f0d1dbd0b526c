"""Training with tf.distribute: two local workers write the run a single process writes, a killed
worker's run resumes from its last epoch, and every process started is stopped by its pid."""

import csv
import json
import os
import threading
import time

import pytest

from export import export_run
from zoo import distributed
from zoo.errors import ZooError
from zoo.training import TrainConfig, train

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it

# Sequences of varying length (JapaneseVowels), so that the workers also bucket them.
TINY = {"task": "many_to_one", "dataset": "japanese_vowels", "cell": "gru", "units": 8, "limit": 64,
        "batch_size": 16, "learning_rate": 1e-2, "schedule": "constant", "patience": 50}


# Enough epochs that a worker killed after the first backup is killed mid-run.
EPOCHS = 12


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


def test_a_killed_worker_resumes_from_the_last_finished_epoch(tmp_path):
    config = TrainConfig(**TINY, epochs=EPOCHS).resolved()
    run_dir = tmp_path / "run"
    killed = []

    def kill_after_the_first_backup(index, process):
        if index != 1 or killed:
            return

        def watch():
            while process.poll() is None and not (run_dir / "backup" / "training_metadata.json").exists():
                time.sleep(0.02)
            if process.poll() is None:
                process.kill()
                killed.append(process.pid)

        threading.Thread(target=watch, daemon=True).start()

    pids = distributed.run_local(config, run_dir, workers=2, on_start=kill_after_the_first_backup)
    assert killed, "the worker finished before it could be killed"
    assert len(pids) == 4 and _dead(pids)  # both started again after the kill
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["resumed"] is True
    assert _epochs(run_dir) == list(range(EPOCHS))  # every epoch once: none lost, none trained twice


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


def test_workers_killed_between_their_backups_resume_from_the_same_epoch(tmp_path, capfd):
    """Worker 1 dies after the chief backed up an epoch and before it did (forced: its backup is put
    one epoch back before it starts again): the chief goes back to its backup of that epoch too, so
    their steps still pair up, and every epoch is trained once."""
    config = TrainConfig(**TINY, epochs=40).resolved()
    run_dir = tmp_path / "run"
    starts = []

    def on_start(index, process):
        if index != 1:
            return
        starts.append(process)
        if len(starts) == 1:
            def watch():
                while process.poll() is None and _backed_up_epoch(run_dir / "backup") < 3:
                    time.sleep(0.02)
                process.kill()

            threading.Thread(target=watch, daemon=True).start()
        elif len(starts) == 2:  # started again, still importing TensorFlow: not yet reading its backup
            backup = distributed.scratch_dir(config, 1) / "backup"
            if _backed_up_epoch(backup) >= _backed_up_epoch(run_dir / "backup"):
                for name in ("latest.weights.h5", "training_metadata.json"):
                    (backup / f"{name}.bkp").replace(backup / name)

    distributed.run_local(config, run_dir, workers=2, on_start=on_start)
    assert len(starts) == 2
    assert "this one resumes from its backup of epoch" in capfd.readouterr().out
    assert json.loads((run_dir / "metrics.json").read_text())["resumed"] is True
    assert _epochs(run_dir) == list(range(40))


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
