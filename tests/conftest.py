import os

# Before TensorFlow is first imported, so its start-up logging stays quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """One export per task, and Keras's answers for a padded batch of its held-out inputs."""
    from tests.served import make_exports

    return make_exports(tmp_path_factory.mktemp("exports"))


@pytest.fixture(scope="session")
def architecture_exports(tmp_path_factory):
    """Every task x cell x direction x depth, each exported once in the session when first asked for."""
    from tests.architectures import ArchitectureExports

    return ArchitectureExports(tmp_path_factory.mktemp("architectures"))
