"""One exception type for every user-facing failure.

The CLI prints a FlorenzError as a single line and exits non-zero; anything else is a bug and keeps
its traceback. Raise it with a message that names the offending input (key, path, row, language).
"""


class FlorenzError(Exception):
    """An error caused by the user's input or environment, reported as one line."""


class ConfigError(FlorenzError):
    """A config file or override is missing, unknown or of the wrong type."""
