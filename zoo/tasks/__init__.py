"""One module per task: its model builder, its data sets and its training defaults."""
