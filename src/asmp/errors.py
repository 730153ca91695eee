"""The one exception type the command line turns into a one-line message."""

from __future__ import annotations

from os import PathLike


class AsmpError(Exception):
    """A user-facing failure: bad input, a missing file, an invalid config.

    The CLI prints ``asmp: error: <path>: <cause>`` on one line and exits non-zero.
    """

    def __init__(self, cause: str, path: str | PathLike[str] | None = None) -> None:
        self.cause = cause
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {cause}" if self.path else cause)
