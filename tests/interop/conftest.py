"""The llama.cpp interop tier: a real llama.cpp server (``xllamacpp``, in-process) over a tiny GGUF model built
for the session (``tiny_model.py``), and modelport clients pointed at it.

Nothing third-party is imported at module level: without ``xllamacpp`` or ``gguf`` the tier's test module skips
itself (``pytest.importorskip``) and this file still loads.
"""

from __future__ import annotations

import gc
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from modelport import ModelInfo, OpenAIChatCompletionClient

from .tiny_model import CONTEXT_LENGTH, MODEL_NAME

N_PARALLEL = 2
"""Slots: one can still be busy finishing a cancelled stream while the next test runs."""
SLOT_CONTEXT = CONTEXT_LENGTH // N_PARALLEL
"""What each slot serves, and what ``GET /v1/models`` reports as ``meta.n_ctx``."""

# Our own capabilities for the model, so modelport does not warn that it does not know it (the suite turns
# warnings into errors). context_window is left out on purpose: the test of list_models sees it come from the server.
TINY_MODEL_INFO: ModelInfo = {
    "vision": False,
    "function_calling": True,
    "json_output": True,
    "structured_output": True,
    "family": "unknown",
}


TIMINGS: list[str] = []
"""Figures the tests measured, printed at the end of the run (``llama.cpp interop timings``)."""


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.section("llama.cpp interop timings")
        for line in TIMINGS:
            terminalreporter.write_line(line)


@dataclass(frozen=True)
class LlamaServer:
    base_url: str
    """``http://127.0.0.1:<port>/v1``"""
    root: str
    model: str
    n_ctx_slot: int


def _get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def busy_slots(server: LlamaServer) -> int:
    """How many of the server's slots are generating (``GET /slots``, on by default)."""
    return sum(1 for slot in _get_json(server.root + "/slots") if slot.get("is_processing"))


def _wait_ready(root: str, deadline_s: float = 30.0) -> None:
    """Until ``/health`` says ok and ``/v1/models`` lists the model."""
    end = time.monotonic() + deadline_s
    last: Exception | str | None = None
    while time.monotonic() < end:
        try:
            if _get_json(root + "/health").get("status") == "ok" and _get_json(root + "/v1/models").get("data"):
                return
        except (OSError, ValueError, urllib.error.URLError) as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"llama.cpp server at {root} did not become ready in {deadline_s:.0f} s: {last}")


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("gguf", reason="the interop tier needs the gguf package to build its model")
    pytest.importorskip("numpy", reason="the interop tier needs numpy (a dependency of gguf)")
    from .tiny_model import build_tiny_llama

    path = tmp_path_factory.mktemp("llamacpp") / "tiny-llama.gguf"
    build_tiny_llama(path)
    return path


@pytest.fixture(scope="session")
def llama_server(tiny_model_path: Any) -> Iterator[LlamaServer]:
    """llama.cpp's server, in this process, on a free loopback port (port 0: the kernel picks, no race)."""
    xllamacpp = pytest.importorskip("xllamacpp", reason="the interop tier needs xllamacpp (llama.cpp's server)")

    params = xllamacpp.CommonParams()
    params.model.path = str(tiny_model_path)
    params.model_alias = {MODEL_NAME}
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.n_ctx = CONTEXT_LENGTH
    params.n_parallel = N_PARALLEL
    params.use_jinja = True  # tools and response_format through the model's own chat template
    params.warmup = False
    params.n_threads_http = 8
    params.endpoint_slots = True  # GET /slots: the cancellation tests watch the server stop generating
    params.cpuparams.n_threads = 1  # the model is tiny: one thread decodes fastest and leaves a core to the client
    params.cpuparams_batch.n_threads = 1
    # llama.cpp's log levels: 0 output only, 1 errors, 2 warnings, 3 info, 4 debug. Errors only by default;
    # MODELPORT_LLAMACPP_VERBOSITY=4 shows every token and grammar when something needs looking into.
    params.verbosity = int(os.environ.get("MODELPORT_LLAMACPP_VERBOSITY", "1"))

    holder = [xllamacpp.Server(params)]  # starts the HTTP server and loads the model before it returns
    root = holder[0].listening_address.rstrip("/")
    try:
        _wait_ready(root)
        yield LlamaServer(base_url=root + "/v1", root=root, model=MODEL_NAME, n_ctx_slot=SLOT_CONTEXT)
    finally:
        # The server stops in its destructor (terminate the loop, stop HTTP, join): drop the only reference.
        holder.clear()
        gc.collect()


@pytest.fixture
async def make_llama_client(llama_server: LlamaServer) -> AsyncIterator[Any]:
    """Clients on the server, closed after the test. Real retries and back-off: nothing is faked here."""
    made: list[OpenAIChatCompletionClient] = []

    def make(**kwargs: Any) -> OpenAIChatCompletionClient:
        kwargs.setdefault("model", llama_server.model)
        kwargs.setdefault("base_url", llama_server.base_url)
        kwargs.setdefault("model_info", TINY_MODEL_INFO)
        kwargs.setdefault("timeout", 30.0)
        client = OpenAIChatCompletionClient(**kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
