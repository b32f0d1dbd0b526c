"""One worker process of a local multi-worker run (zoo.distributed.run_local starts each):
`python -m zoo.worker <config json> <run dir>`, with TF_CONFIG naming its place."""

import json
import sys

from zoo.cli import import_tensorflow_quietly
from zoo.distributed import USER_ERROR
from zoo.errors import ZooError


def main(argv):
    import_tensorflow_quietly()  # before anything imports TensorFlow
    from zoo.training import TrainConfig, train

    config_json, run_dir = argv
    try:
        train(TrainConfig(**json.loads(config_json)), run_dir=run_dir, strategy="multi_worker")
    except ZooError as error:
        print(f"rnn-zoo: error: {error}", file=sys.stderr)
        return USER_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
