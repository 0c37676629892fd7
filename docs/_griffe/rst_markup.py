"""A griffe extension for the API reference: modelport's docstrings are written with reStructuredText's inline
markup (``code``, :class:`Name`, a paragraph ending ``::`` before an indented example), which Markdown reads
differently. Each docstring is rewritten to the Markdown that says the same, when it is loaded; the source is left
as it is."""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|exc|data|obj|const):`~?([^`]+)`")
_DOUBLE = re.compile(r"``([^`]+?)``")
_LITERAL = re.compile(r"(\S)::\n\n", re.MULTILINE)
_BARE_LITERAL = re.compile(r"^::\n\n", re.MULTILINE)


def markdown(text: str) -> str:
    """The docstring ``text`` with its reStructuredText inline markup in Markdown's terms."""
    text = _ROLE.sub(r"`\1`", text)
    text = _DOUBLE.sub(r"`\1`", text)
    text = _BARE_LITERAL.sub("\n", text)
    return _LITERAL.sub(r"\1:\n\n", text)


class RestructuredTextMarkup(griffe.Extension):
    """Rewrites every loaded docstring with :func:`markdown`."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
