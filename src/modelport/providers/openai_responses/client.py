"""``OpenAIResponsesClient``: OpenAI's Responses API (``POST /v1/responses``), and the servers that speak it (vLLM,
Ollama, LM Studio, llama.cpp, Groq, OpenRouter).

The wire dialect is :mod:`modelport.providers.openai_responses.dialect`; this module names the server and the
credentials, by the chat client's rules (:mod:`modelport.providers.openai.client`): a preset (``provider=``, else
OpenAI's own server unless a ``base_url`` is given), ``OPENAI_BASE_URL`` honoured with ``OPENAI_API_KEY``, and a key
from the environment sent only to the server whose variable it is. Nothing is stored at OpenAI unless
``store=True`` is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import Field

if TYPE_CHECKING:
    import aiohttp

    from ..._assembly import Assembler
    from ..._request import Request
    from ...messages import CreateResult

from ..._redact import check_headers
from ..._retry import RetryPolicy
from ...errors import InvalidRequestError
from ...model_info import ModelInfo
from ...tokens import TokenCounter
from .._kit import Connection, ProviderClient, _ClientConfig, config_arguments, resolve_model_info
from ..openai.client import PRESETS, _openai_key, resolve_server
from ._response import cut_at_limit
from .dialect import ResponsesDialect

__all__ = ["RESPONSES_PRESETS", "CutAtLimit", "OpenAIResponsesClient", "ResponsesClientConfig"]

RESPONSES_PRESETS = {
    name: PRESETS[name] for name in ("openai", "ollama", "vllm", "llamacpp", "lmstudio", "groq", "openrouter")
}
"""The chat client's presets whose servers also serve ``/v1/responses``."""


class ResponsesClientConfig(_ClientConfig):
    """The saved config of an :class:`OpenAIResponsesClient`. Fields not listed are create arguments (``store``,
    ``reasoning``, ``max_output_tokens``, ``temperature``...)."""

    model: str
    base_url: str | None = None
    provider: str | None = Field(default=None, description="A preset: openai, ollama, vllm, llamacpp, ...")
    organization: str | None = None


class CutAtLimit(ProviderClient):
    """The finish step of a Responses client: an answer that reached ``max_output_tokens`` is cut there, whatever
    the server's status says (llama.cpp says ``completed``). Its ``modelport batch`` lines are ``/v1/responses``
    ones."""

    batch_endpoint = "responses"

    def _finish(self, asm: Assembler, request: Request) -> CreateResult:
        cut_at_limit(asm, request.payload)
        return super()._finish(asm, request)


class OpenAIResponsesClient(CutAtLimit):
    """A client for OpenAI's Responses API and the servers that speak it.

    Args:
        model: the model name, for example ``gpt-5``.
        api_key: the key; defaults to the preset's variable (``OPENAI_API_KEY`` for OpenAI), sent only to the
            preset's own server (with another ``base_url``, pass ``api_key_env`` to send it there).
        base_url: the server, with its ``/v1`` (``http://localhost:8000/v1`` for vLLM); defaults to
            ``OPENAI_BASE_URL``, else the preset's.
        organization: OpenAI's organization header.
        store: whether OpenAI keeps the responses (default False: stateless, reasoning comes back encrypted).
        reasoning: ``{"effort": ..., "summary": ...}`` for reasoning models.
        provider: a preset (``openai``, ``ollama``, ``vllm``, ``llamacpp``, ``lmstudio``, ``groq``,
            ``openrouter``).
        timeout, deadline, max_retries, model_info, default_headers, proxy, max_connections, max_response_bytes,
        api_key_env, prices: as for :class:`~modelport.OpenAIChatCompletionClient`.
        **create_args: defaults for every request (``max_output_tokens``, ``temperature``, ``include``,
            ``prompt_cache_key``, ``extra_body``, ...).
    """

    component_type = "model"
    component_provider = "openai_responses"
    component_version = 1
    component_config_schema = ResponsesClientConfig

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        organization: str | None = None,
        store: bool = False,
        reasoning: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        max_retries: int = 3,
        model_info: ModelInfo | None = None,
        default_headers: Mapping[str, str] | None = None,
        provider: str | None = None,
        connect_timeout: float = 10.0,
        deadline: float | None = None,
        retry_policy: RetryPolicy | None = None,
        http_session: aiohttp.ClientSession | None = None,
        verify_ssl: bool = True,
        proxy: str | None = None,
        max_connections: int | None = None,
        max_connections_per_host: int | None = None,
        max_response_bytes: int | None = None,
        token_counter: TokenCounter | None = None,
        prices: Mapping[str, Any] | None = None,
        api_key_env: str | None = None,
        **create_args: Any,
    ) -> None:
        if not model or not isinstance(model, str):
            raise InvalidRequestError("model is required")
        self.provider_name, preset, url, from_environment = resolve_server(model, base_url, provider, RESPONSES_PRESETS)
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
        key = _openai_key(api_key, api_key_env, preset, url, base_url, connection, from_environment=from_environment)
        auth = {"authorization": f"Bearer {key.key.get()}"} if key.key is not None else {}
        if organization is not None:
            auth.update(check_headers({"openai-organization": organization}, "organization"))
        create_args = {"store": store, **({"reasoning": reasoning} if reasoning is not None else {}), **create_args}
        super().__init__(
            model=model,
            model_info=model_info,
            info=resolve_model_info(model, model_info),
            dialect=ResponsesDialect(),
            base_url=url,
            connection=connection,
            key=key,
            auth_headers=auth,
            settings={"model": model, "base_url": base_url, "provider": provider, "organization": organization},
            create_args=create_args,
            token_counter=token_counter,
            prices=prices,
        )

    @property
    def base_url(self) -> str:
        return self._base_url

    def __repr__(self) -> str:
        return f"OpenAIResponsesClient(model={self._model!r}, base_url={self._base_url!r})"

    # -- components --

    @classmethod
    def _from_config(cls, config: ResponsesClientConfig) -> OpenAIResponsesClient:
        return cls(
            config.model,
            base_url=config.base_url,
            provider=config.provider,
            organization=config.organization,
            **config_arguments(config, cls.component_provider, skip=("add_name_prefixes",)),
        )
