"""Run many requests: :func:`run_batch` in code, ``modelport batch IN.jsonl -o OUT.jsonl`` on the command line.

A requests file holds one request per line, in OpenAI's Batch API form
(``{"custom_id": ..., "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [...], ...}}``) or the
plain form ``{"custom_id": ..., "messages": [...], ...}``. Results are lines in OpenAI's batch output form.
"""

from ._files import BatchFileError, BatchRequest, parse_request, read_finished, read_requests
from ._run import BatchResult, BatchRun, check_requests, collect, run_batch

__all__ = [
    "BatchFileError",
    "BatchRequest",
    "BatchResult",
    "BatchRun",
    "check_requests",
    "collect",
    "parse_request",
    "read_finished",
    "read_requests",
    "run_batch",
]
