"""WORKERS=N on one machine: a KerasTuner chief on 127.0.0.1 and N worker processes.

KerasTuner's own distributed mode: every process runs the same search, told its role by
KERASTUNER_TUNER_ID ("chief", or "tuner0", "tuner1", ...), KERASTUNER_ORACLE_IP and
KERASTUNER_ORACLE_PORT. The chief serves the oracle; workers ask it for trials and train them.
A worker that dies is started again under the same id, and KerasTuner hands it back its trial.
"""

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict

from zoo.distributed import free_ports

ROLE = "KERASTUNER_TUNER_ID"


def role():
    """This process's part in a distributed search: "chief", a worker id, or None (not distributed)."""
    return os.environ.get(ROLE)


def _wait_for_port(port, chief, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if chief.poll() is not None:
            raise RuntimeError(f"The tuning chief exited with code {chief.returncode} before serving.")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise RuntimeError(f"The tuning chief did not serve on 127.0.0.1:{port} within {timeout} s.")


def _start(config, tuner_id, port, threads):
    env = {
        **os.environ,
        ROLE: tuner_id,
        "KERASTUNER_ORACLE_IP": "127.0.0.1",
        "KERASTUNER_ORACLE_PORT": str(port),
        # Each worker gets its share of the cores, so N workers do not fight over them.
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": str(threads),
    }
    command = [sys.executable, "-m", "tuning.worker", json.dumps(asdict(config))]
    return subprocess.Popen(command, env=env)


def run_local(config, workers, max_restarts=2, on_start=None):
    """Runs the chief and `workers` workers to the end of the search; returns their process ids.

    on_start(tuner_id, process) is called for every process started (tests use it to kill one).
    Every process started is stopped by its own id before this returns.
    """
    (port,) = free_ports(1)
    threads = max(1, (os.cpu_count() or 1) // workers)
    started = []

    def start(tuner_id, share):
        process = _start(config, tuner_id, port, share)
        started.append(process)
        if on_start:
            on_start(tuner_id, process)
        return process

    try:
        chief = start("chief", os.cpu_count() or 1)
        _wait_for_port(port, chief)
        running = {f"tuner{i}": start(f"tuner{i}", threads) for i in range(workers)}
        restarts = dict.fromkeys(running, 0)
        while running:
            time.sleep(0.5)
            for tuner_id, process in list(running.items()):
                code = process.poll()
                if code is None:
                    continue
                del running[tuner_id]
                if code != 0 and restarts[tuner_id] < max_restarts:
                    restarts[tuner_id] += 1
                    print(f"Worker {tuner_id} exited with code {code}; starting it again.", flush=True)
                    running[tuner_id] = start(tuner_id, threads)
        if chief.wait() != 0:
            raise RuntimeError(f"The tuning chief exited with code {chief.returncode}.")
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.wait()
    return [process.pid for process in started]
