"""Options a loader or a file format takes (`OPTIONS="KEY=VALUE ..."`), checked against its signature."""

import inspect

from zoo.errors import ZooError


def checked_options(loader, options, what):
    """`options` if `loader` takes them all; else a ZooError listing the ones it takes."""
    accepted = set(inspect.signature(loader).parameters) - {"seed", "max_len", "files_"}
    unknown = set(options) - accepted
    if unknown:
        raise ZooError(f"{what} take no option {', '.join(sorted(unknown))}; "
                       f"the options are: {', '.join(sorted(accepted)) or 'none'}.")
    return options
