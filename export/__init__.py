"""Export a trained run as TensorFlow Serving's SavedModel layout plus ONNX, verified equal to Keras.

    exports/<name>/<version>/saved_model.pb, variables/, model.onnx, metadata.json
"""

import importlib

__all__ = ["ExportError", "export_model", "export_run"]


def __getattr__(name):
    # Imported on first use, so the model server can read export.layout without loading TensorFlow.
    if name in __all__:
        return getattr(importlib.import_module("export.artifacts"), name)
    raise AttributeError(f"module 'export' has no attribute {name!r}")
