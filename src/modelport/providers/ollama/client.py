"""``OllamaChatCompletionClient``: a local (or remote) Ollama server through its native ``/api/chat``.

The wire dialect is :mod:`modelport.providers.ollama.dialect`; this module names the server and the defaults. The
server is ``host=``, else ``OLLAMA_HOST`` (as the ``ollama`` command and its Python library read it: ``0.0.0.0``,
``myhost:11434`` and ``https://ollama.example.com`` all work), else ``http://localhost:11434``. Ollama takes no key;
headers of your own (a reverse proxy's ``authorization``) are kept out of configs and errors like a key.

Beyond ``create`` and ``create_stream``: :meth:`~OllamaChatCompletionClient.list_models` (``GET /api/tags``, and
``POST /api/show`` for each model's context length) and :meth:`~OllamaChatCompletionClient.show` (``POST
/api/show``), which learns the model's context length.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson
from yarl import URL

if TYPE_CHECKING:
    import aiohttp

from ..._assembly import Assembler
from ..._request import Request
from ..._retry import RetryPolicy
from ...components import ComponentConfigError
from ...errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    InvalidRequestError,
    NotFoundError,
    ResponseValidationError,
)
from ...messages import CreateResult
from ...model_info import ModelInfo, ModelListing
from ...tokens import TokenCounter
from .._kit import (
    Connection,
    ProviderClient,
    _ClientConfig,
    config_arguments,
    migrate_client_config,
    resolve_model_info,
)
from ._host import DEFAULT_HOST, environment_host, parse_host
from ._request import fold_options
from .dialect import OllamaDialect

__all__ = ["DEFAULT_HOST", "OllamaChatCompletionClient", "OllamaClientConfig", "parse_host"]

_EMPTY: Mapping[str, Any] = {}
SHOW_CONCURRENCY = 4
"""How many ``/api/show`` requests :meth:`OllamaChatCompletionClient.list_models` has in flight at once."""
_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)
logger = logging.getLogger("modelport")


class OllamaClientConfig(_ClientConfig):
    """The saved config of an :class:`OllamaChatCompletionClient`. Fields not listed are create arguments
    (``options``, ``keep_alive``, ``think``, ``temperature``...)."""

    model: str
    host: str | None = None
    stream_tool_calls: bool = True


class OllamaChatCompletionClient(ProviderClient):
    """A client for Ollama's native chat API.

    Args:
        model: the model name, for example ``llama3.1`` or ``qwen3:8b``.
        host: the server; defaults to ``OLLAMA_HOST``, else ``http://localhost:11434``.
        options: Ollama's model options (``num_ctx``, ``temperature``, ``top_p``, ``top_k``, ``seed``,
            ``num_predict``, ``stop``...). Create arguments with OpenAI names (``max_tokens``, ``temperature``...)
            are moved into it. ``options["num_ctx"]`` is also the client's context window.
        keep_alive: how long the model stays loaded after a request (``"5m"``, seconds, ``-1`` for ever, ``0``).
        think: ``True`` (or ``"low"``, ``"medium"``, ``"high"``) to have a thinking model think; its thinking is
            the result's ``thought`` and streams as :class:`~modelport.ThoughtChunk`.
        timeout: the longest wait, in seconds, for the next piece of the answer (loading a model counts);
            defaults to ``MODEL_TIMEOUT`` or 180.
        max_retries: retries after the first attempt (default 3).
        max_connections: open connections at most (streams beyond it wait for one); ``max_connections_per_host``:
            the same per host.
        max_response_bytes: the largest response body read, in bytes (64 MiB by default); one streamed line may
            hold the smaller of it and 16 MiB.
        model_info: capabilities, for models modelport does not know.
        stream_tool_calls: ``False`` for Ollama versions that drop tool calls from streams (B-79): a streamed
            request with tools then asks for one whole answer.
        **create_args: defaults for every request (``temperature``, ``num_ctx``, ``format``, ``extra_body``...).

    The timings of each answer (``load_duration``, ``prompt_eval_duration``, ``eval_duration``... in nanoseconds)
    are in its ``CreateResult.provider_metadata``.
    """

    component_type = "model"
    component_provider = "ollama"
    component_version = 2
    component_config_schema = OllamaClientConfig
    provider_name = "ollama"

    def __init__(
        self,
        model: str,
        *,
        host: str | None = None,
        options: Mapping[str, Any] | None = None,
        keep_alive: str | float | None = None,
        think: bool | str | None = None,
        timeout: float | None = None,
        max_retries: int = 3,
        model_info: ModelInfo | None = None,
        default_headers: Mapping[str, str] | None = None,
        connect_timeout: float = 10.0,
        deadline: float | None = None,
        retry_policy: RetryPolicy | None = None,
        http_session: aiohttp.ClientSession | None = None,
        verify_ssl: bool = True,
        proxy: str | None = None,
        token_counter: TokenCounter | None = None,
        prices: Mapping[str, Any] | None = None,
        max_connections: int | None = None,
        max_connections_per_host: int | None = None,
        max_response_bytes: int | None = None,
        stream_tool_calls: bool = True,
        **create_args: Any,
    ) -> None:
        if not model or not isinstance(model, str):
            raise InvalidRequestError("model is required")
        self._host = parse_host(host) if host is not None else environment_host() or DEFAULT_HOST
        for name, value in (("options", options), ("keep_alive", keep_alive), ("think", think)):
            if value is not None:
                create_args[name] = dict(value) if isinstance(value, Mapping) else value
        connection = Connection(
            timeout=timeout,
            connect_timeout=connect_timeout,
            deadline=deadline,
            max_retries=max_retries,
            retry_policy=retry_policy,
            http_session=http_session,
            verify_ssl=verify_ssl,
            proxy=proxy,
            max_connections=max_connections,
            max_connections_per_host=max_connections_per_host,
            max_response_bytes=max_response_bytes,
            default_headers=default_headers,
        )
        super().__init__(
            model=model,
            model_info=model_info,
            info=resolve_model_info(model, model_info),
            dialect=OllamaDialect(stream_tool_calls=stream_tool_calls),
            base_url=self._host,
            connection=connection,
            settings={"model": model, "host": host, "stream_tool_calls": None if stream_tool_calls else False},
            create_args=create_args,
            token_counter=token_counter,
            prices=prices,
            accept="application/x-ndjson, application/json",
        )
        self._create_args = fold_options(self._create_args)
        self._stream_tool_calls = stream_tool_calls

    @property
    def host(self) -> str:
        return self._host

    def __repr__(self) -> str:
        return f"OllamaChatCompletionClient(model={self._model!r}, host={self._host!r})"

    # -- the pipeline, where Ollama differs --

    def _call_args(self, args: Mapping[str, Any]) -> Mapping[str, Any]:
        """As the shared step, but the ``options`` of a call are merged into the client's, key by key."""
        self._dialect.validate_create_args(args)
        extra = fold_options(args)
        if "options" in extra and "options" in self._create_args:
            extra["options"] = {**self._create_args["options"], **extra["options"]}
        return {**self._create_args, **extra}

    def _finish(self, asm: Assembler, request: Request) -> CreateResult:
        result = super()._finish(asm, request)
        if result.raw_finish_reason in ("load", "unload") and result.finish_reason == "unknown":
            result.finish_reason = "stop"  # a request without messages loads (or unloads) the model: nothing to say
        result.provider_metadata = asm.dialect_state.get("metadata")
        if result.content == "" and not result.thought and self._stream_tool_calls and _streamed_tools(request):
            logger.warning(
                "ollama streamed an empty answer to a request with tools: some Ollama versions drop tool calls "
                "from streams (B-79); upgrade Ollama, or pass stream_tool_calls=False to the client"
            )
        return result

    def _hint(self, exc: APIError) -> str | None:
        message = (exc.message or "").lower()
        if isinstance(exc, NotFoundError) and "model" in message and "not found" in message:
            return f"pull it first: ollama pull {self._model}"
        if type(exc) is APIConnectionError and "could not reach" in exc.message:
            return f"is Ollama running at {self._host}? start it with: ollama serve"
        return super()._hint(exc)

    # -- the context window --

    @property
    def context_window(self) -> int:
        """The window the server serves this client: ``options["num_ctx"]`` when the client sets it, else what
        :meth:`show` learnt (the model's ``num_ctx`` parameter, else its ``<arch>.context_length``), else the
        model's ``ModelInfo``."""
        num_ctx = (self._create_args.get("options") or {}).get("num_ctx")
        if type(num_ctx) is int and num_ctx > 0:
            return num_ctx
        return super().context_window

    async def show(self) -> dict[str, Any]:
        """Ollama's ``POST /api/show`` for this client's model (its ``details``, ``model_info``, ``capabilities``,
        ``parameters``...). The context length it reports is used by :attr:`context_window` from then on."""
        answer = await self._show(self._model)
        window = _window_from_show(answer)
        if window:
            self._server_windows[self._model] = window
        return answer

    async def _show(self, model: str) -> dict[str, Any]:
        answer = await self._request_json(URL(self._host + "/api/show"), orjson.dumps({"model": model}))
        if not isinstance(answer, dict):
            raise ResponseValidationError(
                f"{self.provider_name} answered /api/show with something other than an object",
                provider=self.provider_name,
                body=answer,
            )
        return answer

    async def list_models(self, *, concurrency: int = SHOW_CONCURRENCY) -> list[ModelListing]:
        """The models the server has pulled (``GET /api/tags``): names such as ``llama3.1:latest``, with the
        server's entry (size, digest, ``details``) as ``raw`` and the context length each serves, asked of
        ``POST /api/show`` for every model, ``concurrency`` at a time (as :meth:`show` reads it; ``None`` for a
        model the server would not show). A window listed for this client's model is used by
        :attr:`context_window` from then on."""
        if type(concurrency) is not int or concurrency < 1:
            raise InvalidRequestError(f"concurrency must be a whole number of 1 or more, got {concurrency!r}")
        answer = await self._request_json(URL(self._host + "/api/tags"), None)
        entries = answer.get("models") if isinstance(answer, dict) else None
        if not isinstance(entries, list):
            raise ResponseValidationError(
                f"{self.provider_name} answered GET /api/tags without a list of models",
                provider=self.provider_name,
                body=answer,
            )
        raws = [entry for entry in entries if isinstance(entry, dict)]
        names = [str(entry.get("name") or entry.get("model") or "") for entry in raws]
        windows = await self._windows(names, concurrency)
        listings = [
            ModelListing(id=name, context_window=window, raw=raw)
            for name, window, raw in zip(names, windows, raws, strict=True)
        ]
        for listing in listings:
            if listing.context_window and _same_model(listing.id, self._model):
                self._server_windows[self._model] = listing.context_window
        return listings

    async def _windows(self, names: list[str], concurrency: int) -> list[int | None]:
        """The context length of each model in ``names``, from ``/api/show``, at most ``concurrency`` asked at
        once; ``None`` where the server answered with an error (a model removed since the listing)."""
        gate = asyncio.Semaphore(concurrency)

        async def window(name: str) -> int | None:
            if not name:
                return None
            async with gate:
                try:
                    return _window_from_show(await self._show(name))
                except APIStatusError:
                    return None

        tasks = [asyncio.ensure_future(window(name)) for name in names]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:  # a connection lost, a timeout, a cancel: none of the others is left running
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    # -- components --

    @classmethod
    def _migrate_config(cls, config: dict[str, Any], from_version: int) -> dict[str, Any]:
        """Version 1 is AutoGen's ``OllamaChatCompletionClient`` config."""
        config = migrate_client_config(config, from_version, cls.component_provider)
        config.pop("include_name_in_message", None)  # Ollama's messages have no name field: never sent either way
        config = {key: value for key, value in config.items() if value is not None}
        headers = config.pop("headers", None)
        if headers:
            config["default_headers"] = dict(headers)
        if config.pop("follow_redirects", True) is not True:
            raise ComponentConfigError(f"{cls.component_provider}: follow_redirects=False has no equivalent")
        return config

    @classmethod
    def _from_config(cls, config: OllamaClientConfig) -> OllamaChatCompletionClient:
        if config.add_name_prefixes:
            raise ComponentConfigError("ollama: add_name_prefixes has no equivalent (names are never sent)")
        if config.api_key is not None or config.api_key_env is not None:
            raise ComponentConfigError("ollama: the server takes no key; give default_headers for a proxy's own")
        arguments = config_arguments(config, cls.component_provider, skip=("add_name_prefixes",))
        del arguments["api_key"], arguments["api_key_env"]
        return cls(config.model, host=config.host, stream_tool_calls=config.stream_tool_calls, **arguments)


def _streamed_tools(request: Request) -> bool:
    """Whether the request was a stream that carried tools."""
    return bool(request.stream and request.payload and request.payload.get("tools"))


def _same_model(listed: str, model: str) -> bool:
    """Whether a listed name is ``model``: Ollama reads a name without a tag as ``:latest``."""
    return listed == model or (":" not in model and listed == f"{model}:latest")


def _window_from_show(answer: dict[str, Any]) -> int | None:
    """The model's ``num_ctx`` parameter (its Modelfile's), else ``<arch>.context_length`` from ``model_info``."""
    parameters = answer.get("parameters")
    if isinstance(parameters, str):
        found = _NUM_CTX.search(parameters)
        if found:
            return int(found.group(1))
    info = answer.get("model_info")
    if not isinstance(info, dict):
        return None
    arch = info.get("general.architecture")
    value = info.get(f"{arch}.context_length") if isinstance(arch, str) else None
    if not (type(value) is int and value > 0):
        value = next((v for k, v in info.items() if k.endswith(".context_length") and type(v) is int and v > 0), None)
    return value
