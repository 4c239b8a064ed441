"""User-facing errors: each is printed by the CLI as one line on stderr with exit status 2."""

from __future__ import annotations


class BenchError(Exception):
    """A problem with the user's input or environment, with a message that names the fix."""


class GridError(BenchError):
    """A grid file that cannot be read or expanded."""


class DataError(BenchError):
    """A dataset that is missing, incomplete or malformed."""
