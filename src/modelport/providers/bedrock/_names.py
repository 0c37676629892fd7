"""The names the parts of the Bedrock Converse dialect share (:mod:`._messages`, :mod:`._request`,
:mod:`._response`, :mod:`._stream`; the rules they follow are in :mod:`.dialect`)."""

from __future__ import annotations

OUTPUT_TOOL = "modelport_output"
"""The tool that carries structured output (Converse has no response format of its own); reserved."""
PROVIDER_FIELD = "bedrock_content"
"""The ``FunctionCall.provider_fields`` key holding a tool turn's reasoning blocks (and the text after them),
verbatim as Converse sent them."""
