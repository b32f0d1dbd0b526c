"""TensorFlow Serving's directory layout: <root>/<name>/<version>/, versions numbered 1, 2, ...

A version appears only when complete: it is written to a hidden .staging-* folder beside the
versions and renamed into place at the end, so a server polling the folder never reads half of it.
Its number is taken at that rename, the next free one, so exports of one model made at the same time
each publish their own. An export holds a lock on its staging folder while it runs; every export
removes the staging folders no one holds, those of exports that were killed. Published folders are
0755 and files 0644 whatever the umask, for a server running as another user.
"""

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

STAGING_PREFIX = ".staging-"


# A version folder's name (and a URL's version): ASCII digits only, as str.isdigit also takes '²',
# which int() refuses, and '١', which it reads as 1.
VERSION_PATTERN = "^[0-9]{1,18}$"


def version_of(name):
    """The version a folder (or a URL) names, or None (VERSION_PATTERN)."""
    return int(name) if re.fullmatch(VERSION_PATTERN.strip("^$"), name) else None


def versions(model_root):
    """The numbered version directories present; any other name ('v2', '²', '١') is ignored."""
    root = Path(model_root)
    if not root.is_dir():
        return []
    numbers = (version_of(p.name) for p in root.iterdir() if p.is_dir())
    return sorted(number for number in numbers if number is not None)


def sha256_of(path):
    """The hex sha256 of a file, as metadata.json records it for every file of a version."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def next_version(model_root):
    return max(versions(model_root), default=0) + 1


def remove_abandoned_staging(model_root):
    """Removes the staging folders whose lock no process holds: their exports were killed."""
    for staging in Path(model_root).glob(STAGING_PREFIX + "*"):
        try:
            handle = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # removed meanwhile, or not a folder
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(staging, ignore_errors=True)
        except BlockingIOError:
            pass  # a running export's
        finally:
            os.close(handle)


def _locked_staging(model_root):
    """A new staging folder and the open handle that holds its lock until the export ends."""
    while True:
        staging = Path(tempfile.mkdtemp(dir=model_root, prefix=STAGING_PREFIX))
        with contextlib.suppress(FileNotFoundError):
            handle = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
            fcntl.flock(handle, fcntl.LOCK_EX)
            # Another export's clean-up may have taken it, unlocked, for a killed export's folder.
            if staging.is_dir():
                return staging, handle
            os.close(handle)


def _make_readable(folder):
    """Folders 0755 and files 0644, whatever the umask: the server may run as another user."""
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


@contextlib.contextmanager
def staged_version(model_root):
    """Yields a locked staging directory for one version, to be published with `publish`.

    Whatever is not published, on a failure or an interrupt too, is removed, and so is the model's
    folder if this export created it and nothing else is in it.
    """
    model_root = Path(model_root)
    created = [p for p in (model_root, *model_root.parents) if not p.exists()]
    model_root.mkdir(parents=True, exist_ok=True)
    for folder in created:
        folder.chmod(0o755)
    remove_abandoned_staging(model_root)
    staging, handle = _locked_staging(model_root)
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # nothing there once published
        os.close(handle)
        if model_root in created:
            with contextlib.suppress(OSError):  # not empty: another export's or a version
                model_root.rmdir()


def publish(staging, write_numbered):
    """Renames `staging` to the next free version of its model and returns that directory.

    write_numbered(version) writes what records the number (metadata.json) before each try. A try
    fails when another export took the number first, as rename never replaces a folder with files
    in it; then the next number is tried.
    """
    model_root = staging.parent
    version = 0
    while True:
        version = max(next_version(model_root), version + 1)
        write_numbered(version)
        _make_readable(staging)
        try:
            os.rename(staging, model_root / str(version))
            return model_root / str(version)
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                raise
