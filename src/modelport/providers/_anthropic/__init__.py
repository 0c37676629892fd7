"""The parts of the Anthropic Messages dialect, one module each: :mod:`._messages` (our messages to the ``system``
and ``messages`` of a request), :mod:`._request` (create arguments, tools, structured output and the request body),
:mod:`._response` (a whole message and its usage) and :mod:`._stream` (stream events). The rules they follow are in
:mod:`modelport.providers.anthropic_wire`, which names them all; this module holds the names they share.
"""

from __future__ import annotations

OUTPUT_TOOL = "modelport_output"
"""The tool that carries structured output on models without Anthropic's own; reserved."""
PROVIDER_FIELD = "anthropic_content"
"""The ``FunctionCall.provider_fields`` key holding a tool turn's thinking blocks, verbatim."""
_SIGNED = ("thinking", "redacted_thinking")
