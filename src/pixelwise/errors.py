"""The one exception type for mistakes a user can make.

The CLI prints a ``PixelwiseError`` as a single ``error: ...`` line and exits with
status 2; anything else is a bug and keeps its traceback.
"""


class PixelwiseError(Exception):
    """Bad input from the user: a path, a value, a name. The message names it."""
