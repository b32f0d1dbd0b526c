"""One process of a local distributed search (tuning.distributed.run_local starts each):
`python -m tuning.worker <TuneConfig json>`, its role (chief or worker id) in KERASTUNER_TUNER_ID."""

import json
import sys

from zoo.cli import import_tensorflow_quietly


def main(argv):
    import_tensorflow_quietly()  # before anything imports TensorFlow
    from tuning.search import TuneConfig, tune

    (config_json,) = argv
    tune(TuneConfig(**json.loads(config_json)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
