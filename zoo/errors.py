"""The project's own errors: the CLI prints these as one line; anything else keeps its traceback."""


class ZooError(ValueError):
    """A bad name, size, setting or file, said in words that name the bad value and what is allowed.

    A ValueError too, so callers that caught ValueError before keep working.
    """


class DataFileError(ZooError):
    """A data file that cannot be read as its format says: names the file, the 1-based line and why."""

    def __init__(self, path, message, line=None):
        self.path, self.line = str(path), line
        where = f"{path}, line {line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
