"""``AzureOpenAIResponsesClient``: the Responses API of an Azure OpenAI resource, on Azure's v1 surface
(``{endpoint}/openai/v1/responses``), authenticated as the Azure chat client is (``api-key``, or an Entra token,
fixed or from a provider called before every request)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...errors import InvalidRequestError
from ..openai.azure import V1_API_VERSIONS, AzureOpenAIChatCompletionClient
from .client import CutAtLimit
from .dialect import ResponsesDialect

if TYPE_CHECKING:
    from ..dialect import Dialect

__all__ = ["AzureOpenAIResponsesClient"]


class AzureOpenAIResponsesClient(CutAtLimit, AzureOpenAIChatCompletionClient):
    """A client for the Responses API of an Azure OpenAI resource.

    Args:
        model: the deployment's name, sent as the ``model`` (``azure_deployment`` may name it instead).
        azure_endpoint: ``https://<resource>.openai.azure.com``; defaults to ``AZURE_OPENAI_ENDPOINT``.
        api_version: ``v1`` (the default; Azure serves the Responses API on its v1 surface).
        store, reasoning: as for :class:`~modelport.OpenAIResponsesClient`.
        The remaining arguments are those of :class:`~modelport.AzureOpenAIChatCompletionClient`.
    """

    component_provider = "azure_openai_responses"
    component_version = 1

    def __init__(
        self,
        *,
        api_version: str | None = "v1",
        store: bool = False,
        reasoning: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if api_version not in V1_API_VERSIONS:
            raise InvalidRequestError(
                f"api_version {api_version!r}: Azure serves the Responses API on its v1 endpoint; use api_version='v1'"
            )
        if reasoning is not None:
            kwargs["reasoning"] = reasoning
        super().__init__(api_version=api_version, store=store, **kwargs)

    def _azure_dialect(self, add_name_prefixes: bool) -> Dialect:
        return ResponsesDialect()

    def __repr__(self) -> str:
        return f"AzureOpenAIResponsesClient(deployment={self._deployment!r}, endpoint={self._azure_endpoint!r})"
