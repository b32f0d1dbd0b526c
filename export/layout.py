"""TensorFlow Serving's directory layout: <root>/<name>/<version>/, versions numbered 1, 2, ...

A version appears only when complete: it is written to a hidden temporary directory beside the
versions and renamed into place at the end, so a server polling the folder never reads half of it.
"""

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path


def versions(model_root):
    """The numbered version directories present; anything not a plain integer is ignored."""
    root = Path(model_root)
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())


def sha256_of(path):
    """The hex sha256 of a file, as metadata.json records it for every file of a version."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def next_version(model_root):
    return max(versions(model_root), default=0) + 1


@contextlib.contextmanager
def staged_version(model_root, version):
    """Yields a temporary directory; on success it becomes <model_root>/<version>.

    On any failure, an interrupt included, the temporary directory is removed, and so is the
    model's folder if this export created it.
    """
    model_root = Path(model_root)
    created_root = not model_root.exists()
    model_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=model_root, prefix=f".staging-{version}-"))
    try:
        yield staging
        final = model_root / str(version)
        if final.exists():
            raise FileExistsError(f"{final} appeared while this export ran; export again.")
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created_root and not any(model_root.iterdir()):
            model_root.rmdir()
        raise
