"""The one exception type for expected failures (bad input, unreachable server, ...)."""

__all__ = ["IcaaError"]


class IcaaError(Exception):
    """An expected failure with an actionable message.

    The CLIs print the message and exit with status 1; a traceback is only ever shown for bugs.
    Messages must never contain secrets (API keys, tokens, cookies).
    """
