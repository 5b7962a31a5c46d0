"""The one exception type for mistakes a user can make, and how its messages quote values.

The CLI prints a ``PixelwiseError`` as a single ``error: ...`` line and exits with
status 2; anything else is a bug and keeps its traceback.
"""


class PixelwiseError(Exception):
    """Bad input from the user: a path, a value, a name. The message names it."""


def excerpt(value: object, limit: int = 60) -> str:
    """``repr(value)`` for an error message, cut to about ``limit`` characters: a message
    quotes what it refuses, never a whole file."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
