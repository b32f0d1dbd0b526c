"""Serve exports with KServe's ModelServer: TensorFlow Serving's REST API and the Open Inference Protocol.

    rnn-zoo serve --export-dir exports --runtime onnx --port 8501
"""
