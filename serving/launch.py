"""`rnn-zoo serve` in a child process on a free loopback port, for tests, benchmarks and notebooks."""

import contextlib
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

from zoo.distributed import free_ports


def _ready(base_url):
    try:
        with urllib.request.urlopen(base_url + "/v2/health/ready", timeout=5) as response:
            return json.loads(response.read()).get("ready") is True
    except (OSError, urllib.error.HTTPError, ValueError):
        return False


@contextlib.contextmanager
def running_server(export_dir, runtime, log_path, extra_args=(), start_timeout=120, python=sys.executable,
                   cwd=None):
    """Yields (base_url, process) once the server answers ready; then stops it by its process id.

    python: the interpreter whose installed rnn-zoo serves (a wheel's fresh venv, in tests).

    The server's output goes to log_path; a server that exits or is not ready in time raises
    RuntimeError naming the log.
    """
    (port,) = free_ports(1)
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(python), "-m", "zoo.cli", "serve", "--export-dir", str(export_dir), "--runtime", runtime,
             "--port", str(port), *map(str, extra_args)],
            stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
        try:
            base_url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + start_timeout
            while not _ready(base_url):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"`rnn-zoo serve` did not become ready; see {log_path}")
                time.sleep(0.2)
            yield base_url, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
