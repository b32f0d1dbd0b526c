"""The package as pip installs it: `python -m build` makes an sdist and, from it, a wheel holding the
package data; installed (not editable) into a fresh venv, its rnn-zoo trains, exports and serves."""

import json
import os
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from serving.launch import running_server
from tests.tfserving_client import Client

pytestmark = pytest.mark.slow  # make test-fast leaves it out; make test runs it

ROOT = Path(__file__).resolve().parent.parent


def _run(command, cwd, env):
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-3000:]}"
    return done.stdout


def test_the_wheel_installs_into_a_fresh_venv_and_trains_exports_and_serves(tmp_path):
    dist = tmp_path / "dist"
    # --no-isolation: the build backend (setuptools) from this venv, as no download may happen here.
    _run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(dist),
          str(ROOT)], tmp_path, os.environ)
    (wheel,) = dist.glob("rnn_zoo-*.whl")
    assert len(list(dist.glob("rnn_zoo-*.tar.gz"))) == 1
    names = zipfile.ZipFile(wheel).namelist()
    for data in ("zoo/preset_results.json", "zoo/xla_speedups.json", "zoo/tasks/forecasting.py",
                 "export/fused.py", "serving/server.py", "tuning/worker.py"):
        assert data in names, f"{wheel.name} lacks {data}"
    assert not [name for name in names if name.startswith(("tests/", "bench/", "docs/"))]

    # A fresh venv with the wheel installed (no editable link to this checkout); its dependencies are
    # read from this venv's site-packages (a .pth line), which pip would otherwise download.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, os.environ)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
          str(wheel)], tmp_path, os.environ)
    (packages,) = (venv / "lib").glob("python*/site-packages")
    (packages / "zz_dependencies.pth").write_text(site.getsitepackages()[0] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    work = tmp_path / "work"  # away from this checkout, whose folders would shadow the installed ones
    work.mkdir()
    where = _run([str(python), "-c", "import zoo, export, serving, tuning; "
                  "print(zoo.__file__, export.__file__, serving.__file__, tuning.__file__)"], work, env)
    assert all(path.startswith(str(packages)) for path in where.split()), where
    zoo = str(venv / "bin" / "rnn-zoo")
    assert _run([zoo, "--version"], work, env).strip() == "rnn-zoo 0.1.0"
    assert "gun_point_bigru" in _run([zoo, "presets"], work, env)  # reads the packaged results

    _run([zoo, "train", "--task", "many_to_one", "--epochs", "1", "--units", "4", "--limit", "32",
          "--run-dir", "run"], work, env)
    _run([zoo, "export", "--run-dir", "run", "--export-dir", "exports"], work, env)
    metadata = json.loads((work / "exports" / "many_to_one" / "1" / "metadata.json").read_text())
    assert metadata["verification"]["passed"]
    with np.load(work / "run" / "examples.npz") as examples:
        source = examples["source"][:2]
    log = tmp_path / "serve.log"
    with running_server(work / "exports", "onnx", log, python=python, cwd=work) as (url, _):
        status, body = Client(url).predict("many_to_one", {"instances": source.tolist()})
    assert status == 200 and len(body["predictions"]) == 2, body
