"""What the command line writes to a terminal: emphasis, only when the stream is a terminal and ``NO_COLOR`` is not
set."""

from __future__ import annotations

import os
from typing import TextIO

__all__ = ["Style"]


class Style:
    """Dim and bold text for ``stream``, plain when it is not a terminal or ``NO_COLOR`` is set."""

    def __init__(self, stream: TextIO) -> None:
        self.color = stream.isatty() and os.environ.get("NO_COLOR") is None

    def dim(self, text: str) -> str:
        return f"\x1b[2m{text}\x1b[0m" if self.color else text

    def bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self.color else text
