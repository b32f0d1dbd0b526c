"""The models under an export folder, kept in step with it while the server runs.

Like TensorFlow Serving polling its model base paths: a new `<name>/<version>/` is loaded and
then served in place of the old one, a removed one is dropped, and a version that is incomplete
or fails to load is reported and never served (the version before it keeps serving).
"""

import json
import re
import threading
from pathlib import Path

from kserve.errors import InvalidInput, ModelNotFound
from kserve.logging import logger

from export.layout import sha256_of, version_of, versions
from serving.runtimes import DEFAULT_MAX_ELEMENTS, STEP_SUFFIX, ServedVersion
from zoo.errors import ZooError


class ServableNotFound(ModelNotFound):
    """404, with TensorFlow Serving's wording."""

    def __init__(self, name, version=None):
        super().__init__(name)
        request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
        self.message = f"Servable not found for request: {request}"

    def __str__(self):
        return self.message


def version_number(version):
    """A version from a URL, as export.layout reads version folders; InvalidInput otherwise."""
    number = version_of(version)
    if number is None:
        raise InvalidInput(f"Version {version[:40]!r} is not a version number (1, 2, ...).")
    return number


def _fingerprint(directory):
    """What changes when any file of a folder changes, to retry a failed version only then."""
    return tuple(sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns)
                        for p in Path(directory).rglob("*") if p.is_file()))


# A version label (labels.json, and the URL's /labels/{label}): what TF Serving's examples use.
LABEL_PATTERN = "^[A-Za-z0-9_.-]{1,64}$"


def _differences(directory, metadata):
    """The files of a version folder that differ from what its metadata.json records, and
    metadata.json itself if it is not the one the version was loaded with."""
    differ = []
    try:
        if json.loads((directory / "metadata.json").read_text()) != metadata:
            differ.append("metadata.json")
    except (OSError, ValueError):
        differ.append("metadata.json")
    for relative, digest in metadata.get("sha256", {}).items():
        path = directory / relative
        try:
            same = sha256_of(path) == digest
        except OSError:
            same = False
        if not same:
            differ.append(relative)
    return differ


def _labels(root, name):
    """{label: version} from <model>/labels.json ({"stable": 1, "canary": 2}); None if it is unreadable."""
    path = root / "labels.json"
    if not path.is_file():
        return {}
    try:
        labels = json.loads(path.read_text())
        if (isinstance(labels, dict) and all(type(v) is int and v > 0 for v in labels.values())
                and all(re.fullmatch(LABEL_PATTERN.strip("^$"), label) for label in labels)):
            return dict(labels)
        problem = ('not an object of labels (letters, digits, "_", "." and "-", at most 64) and version '
                   'numbers, as {"stable": 1}')
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        problem = str(error)
    logger.warning("Model %s: %s ignored, the labels before it kept: %s", name, path, problem)
    return None


class ExportRepository:
    """Every model under `export_dir`: the highest loadable version of each, or all with all_versions.

    on_change(added_names, removed_names) is called after a scan changes which models exist.
    """

    def __init__(self, export_dir, runtime, all_versions=False, on_change=None,
                 max_elements=DEFAULT_MAX_ELEMENTS, batching=None):
        self.export_dir = Path(export_dir)
        if not self.export_dir.is_dir():
            raise ZooError(f"Export folder {str(export_dir)!r} does not exist; `make export` writes one.")
        self.runtime = runtime
        self.all_versions = all_versions
        self.on_change = on_change
        self.max_elements = max_elements
        self.batching = batching
        self._lock = threading.Lock()
        self._loaded = {}  # name -> {version: ServedVersion}
        self._failed = {}  # (name, version) -> (fingerprint, message)
        self._labels = {}  # name -> {label: version}, from <name>/labels.json
        self._seen = {}  # (name, version) -> the fingerprint of its folder when last checked
        self._changed = {}  # (name, version) -> how its files differ from those it was loaded from

    def model_names(self):
        with self._lock:
            return sorted(self._loaded)

    def get(self, name, version=None):
        """The served version asked for (the highest when version is None), or ServableNotFound.

        <name>-step is the step of <name>'s version, where that version streams."""
        base = self._stepped(name)
        if base:
            step = self.get(base, version).step
            if step is None:
                raise ServableNotFound(name, version)
            return step
        with self._lock:
            served = self._loaded.get(name, {})
            if version is None:
                if not served:
                    raise ServableNotFound(name)
                return served[max(served)]
            if version not in served:
                raise ServableNotFound(name, version)
            return served[version]

    def version_for_label(self, name, label):
        """The version a label of labels.json names; 400 in TF Serving's words for an unknown label."""
        with self._lock:
            labels = self._labels.get(name, {})
        if label not in labels:
            raise InvalidInput(f"Unrecognized servable version label: {label}")
        return labels[label]

    def _stepped(self, name):
        """The model whose step `name` names, or None."""
        base = name.removesuffix(STEP_SUFFIX)
        with self._lock:
            return base if base != name and name not in self._loaded and base in self._loaded else None

    def version_states(self, name):
        """{version: None if served, else why it is not}; ServableNotFound for an unknown model."""
        base = self._stepped(name)
        if base:
            with self._lock:
                return {v: None for v, served in sorted(self._loaded[base].items()) if served.step}
        with self._lock:
            states = {v: None for v in self._loaded.get(name, {})}
            states.update({v: message for (n, v), (_, message) in self._failed.items() if n == name})
        if not states:
            raise ServableNotFound(name)
        return dict(sorted(states.items()))

    def changed(self, name):
        """{version: what changed} of the served versions whose files changed on disk since they were
        loaded; they keep serving what was loaded (and verified) into memory."""
        with self._lock:
            return {v: message for (n, v), message in self._changed.items() if n == name}

    def scan(self):
        """One pass over the folder: load what should be served, then drop what no longer should."""
        roots = {p.name: p for p in self.export_dir.iterdir() if p.is_dir() and not p.name.startswith(".")}
        with self._lock:
            before = set(self._loaded)
        for name, root in sorted(roots.items()):
            self._scan_model(name, root)
        with self._lock:
            for name in set(self._loaded) - set(roots):
                for served in self._loaded.pop(name).values():
                    served.close()
                logger.info("Model %s: folder removed, no longer served.", name)
            self._failed = {key: value for key, value in self._failed.items() if key[0] in roots}
            served = {(n, v) for n, versions in self._loaded.items() for v in versions}
            self._seen = {key: value for key, value in self._seen.items() if key in served}
            self._changed = {key: value for key, value in self._changed.items() if key in served}
            self._labels = {name: labels for name, labels in self._labels.items() if name in roots}
            after = set(self._loaded)
        if self.on_change and after != before:
            self.on_change(sorted(after - before), sorted(before - after))

    def _scan_model(self, name, root):
        labels = _labels(root, name)
        if labels is not None:
            with self._lock:
                self._labels[name] = labels
        present = versions(root)
        with self._lock:
            loaded = dict(self._loaded.get(name, {}))
        keep = set()
        for version in sorted(present, reverse=True):
            if version in loaded:
                self._recheck(name, version, loaded[version])
            served = loaded.get(version) or self._load(name, root / str(version))
            if served:
                loaded[version] = served
                keep.add(version)
                if not self.all_versions:
                    break
        with self._lock:
            for version in set(loaded) - keep:
                loaded[version].close()
                logger.info("Model %s: version %d no longer served.", name, version)
            self._failed = {(n, v): value for (n, v), value in self._failed.items()
                            if n != name or v in present}
            if keep:
                self._loaded[name] = {v: loaded[v] for v in keep}
            else:
                self._loaded.pop(name, None)

    def _load(self, name, directory):
        key = (name, int(directory.name))
        fingerprint = _fingerprint(directory)
        failed = self._failed.get(key)
        if failed and failed[0] == fingerprint:
            return None
        try:
            served = ServedVersion(directory, self.runtime, self.max_elements, batching=self.batching)
        except Exception as error:  # any unloadable folder is reported, never fatal to the server
            with self._lock:
                self._failed[key] = (fingerprint, f"{type(error).__name__}: {error}")
            logger.warning("Model %s version %s not served: %s", name, directory.name, error)
            return None
        with self._lock:
            self._failed.pop(key, None)
            self._seen[key] = fingerprint
        if served.batching:
            timed = f", one example's call {served.call_ms:.2f} ms" if served.call_ms else ""
            batched = f"; batching on{timed}"
        elif self.batching is not None:
            timed = f"{served.call_ms:.2f} ms" if served.call_ms is not None else "not timed"
            batched = (f"; one example's call {timed}, below --min-call-ms {self.batching.min_call_ms:g} ms: "
                       "requests run alone")
        else:
            batched = ""
        logger.info("Model %s: version %s loaded (%s%s).", name, directory.name, self.runtime, batched)
        return served

    def _recheck(self, name, version, served):
        """Whether a served version's files still are those it was loaded from: their sizes and times
        at each scan, their sha256 against metadata.json's once those move. A change is reported in
        its status and one log line (and its end too); the version keeps serving what it loaded."""
        key = (name, version)
        fingerprint = _fingerprint(served.directory)
        with self._lock:
            if self._seen.get(key) == fingerprint:
                return
            self._seen[key] = fingerprint
            before = self._changed.get(key)
        differ = _differences(served.directory, served.metadata)
        message = None
        if differ:
            message = (f"files changed on disk since this version was loaded ({', '.join(differ)}); it "
                       "serves the copy loaded into memory. Export a new version instead of changing one.")
        if message == before:
            return
        with self._lock:
            if message:
                self._changed[key] = message
            else:
                self._changed.pop(key, None)
        if message:
            logger.warning("Model %s version %d: %s", name, version, message)
        else:
            logger.info("Model %s version %d: its files match what it was loaded from again.", name, version)

    def watch(self, poll_seconds):
        """Scans every poll_seconds in a daemon thread; set the returned event to stop it."""
        stop = threading.Event()

        def loop():
            while not stop.wait(poll_seconds):
                try:
                    self.scan()
                except Exception as error:  # e.g. a folder removed mid-scan: the next scan sees the result
                    logger.warning("Scan of %s failed, tried again in %gs: %s: %s", self.export_dir,
                                   poll_seconds, type(error).__name__, error)

        threading.Thread(target=loop, name="export-watcher", daemon=True).start()
        return stop
