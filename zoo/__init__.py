"""rnn-zoo: recurrent networks for the five ways of mapping inputs to outputs.

    >>> import zoo
    >>> run = zoo.train("many_to_one", data=(x, y), epochs=20)
    >>> zoo.load(run.run_dir).predict(x_new)  # what the server answers
    >>> zoo.list_tasks()
    ['one_to_one', 'one_to_many', 'many_to_one', 'seq2seq', 'tagging']
    >>> model = zoo.get_task("tagging").build_model(spec, cell="gru", bidirectional=True)
    >>> model = zoo.from_preset("gun_point_bigru")  # a tuned architecture, untrained
"""

import importlib

_PUBLIC = {
    "train": "zoo.api",
    "load": "zoo.api",
    "Run": "zoo.api",
    "Predictor": "zoo.api",
    "RecurrentClassifier": "zoo.estimators",
    "RecurrentRegressor": "zoo.estimators",
    "RecurrentForecaster": "zoo.forecaster",
    "CELLS": "zoo.architecture",
    "Architecture": "zoo.architecture",
    "Task": "zoo.registry",
    "get_task": "zoo.registry",
    "list_tasks": "zoo.registry",
    "Preset": "zoo.presets",
    "from_preset": "zoo.presets",
    "get_preset": "zoo.presets",
    "list_presets": "zoo.presets",
}
__all__ = list(_PUBLIC)


def __getattr__(name):
    # Imported on first use: `rnn-zoo serve` with ONNX Runtime runs without loading TensorFlow.
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
