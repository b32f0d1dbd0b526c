"""Every architecture the builders make, exported once per test session and shared by the tests
that check the export (tests/test_export.py) and the runtimes it goes to (tests/test_openvino.py)."""

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import zoo
from export import export_model
from tests.tiny import tiny_trained

MATRIX = [
    (task, cell, bidirectional, layers)
    for task, cell, bidirectional, layers in itertools.product(
        # Two layers: the first's padded steps and states reach the second (or the decoder), and the top
        # one is written as a single layer is; one layer of every task is what tests/served.py, test_step
        # and test_quantize export.
        zoo.list_tasks(), zoo.CELLS, (False, True), (2,))
    if not (task == "one_to_many" and bidirectional)  # refused by the builder, see test_builders
    and task != "forecasting"  # its graph is tf2onnx's, not fused: tests/test_your_data.py exports it
]


@dataclass
class Exported:
    task: object
    model: object
    contract: dict
    source: np.ndarray  # held-out inputs, rows 1 and 2 padded where the input is a sequence
    version_dir: Path


class ArchitectureExports:
    """Exports each (task, cell, bidirectional, layers) of MATRIX on first use, under `root`."""

    def __init__(self, root):
        self.root, self.done = Path(root), {}

    def get(self, task_name, cell, bidirectional, layers):
        case = (task_name, cell, bidirectional, layers)
        if case not in self.done:
            task, model, contract, source = tiny_trained(
                task_name, np.random.default_rng(0), cell=cell, bidirectional=bidirectional, layers=layers)
            name = f"{task_name}-{cell}-{'bi' if bidirectional else 'uni'}-{layers}"
            self.done[case] = Exported(task, model, contract, source,
                                       export_model(model, task, contract, source, self.root, name))
        return self.done[case]
