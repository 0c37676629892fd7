"""The command line's own mistake: one line to the user, exit status 2."""

from __future__ import annotations

__all__ = ["CommandError"]


class CommandError(Exception):
    """A mistake on the command line or in its environment, told in one line (exit status 2). ``missing_key``
    adds the hint that the demo and ``chat --offline`` need no key."""

    def __init__(self, message: str, *, missing_key: bool = False) -> None:
        super().__init__(message)
        self.missing_key = missing_key
