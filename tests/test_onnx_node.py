"""model.onnx in ONNX Runtime for Node.js (onnxruntime-node, as npm installs it), against Keras.

Runs where `node` and `npm` are on PATH: npm installs onnxruntime-node with --ignore-scripts (its
install script would download extra providers; the CPU runtime ships in the package).
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.served import MODELS

ONNXRUNTIME_NODE = "onnxruntime-node@1.30.0"
RUNNER = Path(__file__).parent / "node" / "run_onnx.js"

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (shutil.which("node") and shutil.which("npm")),
                                                    reason="node and npm are not installed")]


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory):
    root = tmp_path_factory.mktemp("node")
    subprocess.run(["npm", "install", ONNXRUNTIME_NODE, "--ignore-scripts", "--no-audit", "--no-fund",
                    "--prefix", str(root)], check=True, capture_output=True, timeout=600)
    return root / "node_modules"


@pytest.mark.parametrize("name", MODELS)
def test_onnxruntime_node_loads_every_export_and_gives_keras_answer(node_modules, exports, tmp_path, name):
    root, models = exports
    model = models[name]
    batch = np.asarray(model["batch"])
    input_name = json.loads((root / name / "1" / "metadata.json").read_text())["inputs"][0]["name"]
    feeds = tmp_path / "feeds.json"
    feeds.write_text(json.dumps({input_name: {"type": "int32" if batch.dtype.kind == "i" else "float32",
                                              "dims": list(batch.shape), "data": batch.ravel().tolist()}}))
    result = subprocess.run(["node", str(RUNNER), str(root / name / "1" / "model.onnx"), str(feeds)],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "NODE_PATH": str(node_modules)})
    assert result.returncode == 0, result.stderr
    outputs = json.loads(result.stdout)
    for output, expected in model["expected"].items():
        got = np.reshape(outputs[output]["data"], outputs[output]["dims"])
        if expected.dtype.kind == "i":
            assert np.array_equal(got, expected), output
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5, err_msg=output)
