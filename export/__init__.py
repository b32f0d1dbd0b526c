"""Export a trained run as TensorFlow Serving's SavedModel layout plus ONNX, verified equal to Keras.

    exports/<name>/<version>/saved_model.pb, variables/, model.onnx, metadata.json
"""

from export.artifacts import ExportError, export_model, export_run

__all__ = ["ExportError", "export_model", "export_run"]
