"""rnn-zoo: recurrent networks for the five ways of mapping inputs to outputs.

    >>> import zoo
    >>> zoo.list_tasks()
    ['one_to_one', 'one_to_many', 'many_to_one', 'seq2seq', 'tagging']
    >>> model = zoo.get_task("tagging").build_model(spec, cell="gru", bidirectional=True)
"""

import importlib

from zoo.architecture import CELLS, Architecture
from zoo.registry import Task, get_task, list_tasks

# Importing a task module registers it; this order is the order of list_tasks().
for _module in ("one_to_one", "one_to_many", "many_to_one", "seq2seq", "tagging"):
    importlib.import_module(f"zoo.tasks.{_module}")

__all__ = ["CELLS", "Architecture", "Task", "get_task", "list_tasks"]
