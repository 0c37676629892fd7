"""What a cassette raises."""

from __future__ import annotations

from ..errors import ModelportError

__all__ = ["CassetteError", "CassetteMismatchError"]


class CassetteError(ModelportError):
    """A cassette cannot be used: its file is not a cassette, or its mode is not one of the four."""


class CassetteMismatchError(CassetteError, LookupError):
    """A request found no recording in the cassette (or all that matched it were used). The message shows the
    closest recording and how the request differs from it."""
