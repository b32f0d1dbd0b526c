"""One module per task: its model builder, its data sets and its training defaults."""

import importlib

# Importing a task module registers it; this order is the order of zoo.list_tasks().
for _module in ("one_to_one", "one_to_many", "many_to_one", "seq2seq", "tagging", "forecasting"):
    importlib.import_module(f"zoo.tasks.{_module}")
