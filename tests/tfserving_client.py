"""A client for TensorFlow Serving's REST API and the V2 inference protocol, from their documentation alone.

Standard library only, and nothing from this project, so the server is judged by what a stranger's
client sends and expects.
"""

import json
import urllib.error
import urllib.request


class Client:
    def __init__(self, base_url, timeout=30):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def call(self, method, path, body=None, data=None, headers=None):
        """(HTTP status, parsed JSON answer); `body` is sent as JSON, `data` as raw bytes."""
        if body is not None:
            data = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    @staticmethod
    def _model_path(name, version):
        return f"/v1/models/{name}" + ("" if version is None else f"/versions/{version}")

    def status(self, name, version=None):
        return self.call("GET", self._model_path(name, version))

    def metadata(self, name, version=None):
        return self.call("GET", self._model_path(name, version) + "/metadata")

    def predict(self, name, body, version=None):
        return self.call("POST", self._model_path(name, version) + ":predict", body)

    def infer(self, name, body):
        return self.call("POST", f"/v2/models/{name}/infer", body)
