"""A :class:`Deployment`: a client the router may send to, with its limits, its token estimate and its config."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .._request import Request
from ..client import ChatCompletionClient
from ..components import nested_dump
from ..errors import InvalidRequestError
from ..model_info import DEFAULT_CONTEXT_WINDOW
from ._limits import RateLimit

__all__ = ["DEFAULT_COMPLETION_ESTIMATE", "Deployment", "DeploymentConfig"]

DEFAULT_COMPLETION_ESTIMATE = 256
"""Completion tokens reserved for a call that sets no ``max_tokens``."""


class Deployment:
    """A client the router may send to, with its limits.

    Args:
        client: any :class:`~modelport.ChatCompletionClient`.
        name: unique among the router's deployments (default: the client's model, numbered when repeated).
        rpm: requests per minute (``RateLimit(requests=rpm, per=60)``).
        tpm: tokens per minute (``RateLimit(tokens=tpm, per=60)``).
        limits: further :class:`RateLimit` s.
        max_concurrency: calls in flight at once.
        weight: its share under the ``weighted`` strategy.
    """

    def __init__(
        self,
        client: ChatCompletionClient,
        name: str | None = None,
        *,
        rpm: int | None = None,
        tpm: int | None = None,
        limits: Sequence[RateLimit] = (),
        max_concurrency: int | None = None,
        weight: float = 1.0,
    ) -> None:
        if not isinstance(client, ChatCompletionClient):
            raise InvalidRequestError(f"a Deployment needs a ChatCompletionClient, not {type(client).__name__}")
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be 1 or more, got {max_concurrency}")
        if weight < 0:
            raise ValueError(f"weight must not be negative, got {weight}")
        self.client = client
        self.name = name
        self.rpm = rpm
        self.tpm = tpm
        self.limits = tuple(limits)
        self.max_concurrency = max_concurrency
        self.weight = weight
        shorthand = [RateLimit(requests=rpm, per=60.0)] if rpm is not None else []
        shorthand += [RateLimit(tokens=tpm, per=60.0)] if tpm is not None else []
        self.all_limits: tuple[RateLimit, ...] = (*shorthand, *self.limits)
        self._counts_tokens = any(limit.tokens for limit in self.all_limits)

    @property
    def context_window(self) -> int:
        """The deployment's context window: its client's, else its model info's, else the default."""
        window = getattr(self.client, "context_window", None)
        if isinstance(window, int) and window > 0:
            return window
        return int(self.client.model_info.get("context_window") or DEFAULT_CONTEXT_WINDOW)

    def estimate(self, request: Request) -> int:
        """Tokens to reserve: the prompt's count plus ``max_tokens`` (or :data:`DEFAULT_COMPLETION_ESTIMATE`)."""
        if not self._counts_tokens:
            return 0
        defaults = getattr(self.client, "_create_args", None) or {}
        completion = _max_tokens(request.args) or _max_tokens(defaults) or DEFAULT_COMPLETION_ESTIMATE
        return int(self.client.count_tokens(request.messages, tools=request.tools)) + completion

    def __repr__(self) -> str:
        return f"Deployment({self.client!r}, name={self.name!r})"


def _max_tokens(args: Mapping[str, Any]) -> int | None:
    if not isinstance(args, Mapping):  # not create arguments: the deployment's client refuses them by name
        return None
    value = args.get("max_completion_tokens") or args.get("max_tokens")
    return value if isinstance(value, int) and value > 0 else None


class DeploymentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client: dict[str, Any] | str = Field(
        description="The deployment client's own component config, or a model string ('openai:gpt-4o')."
    )
    name: str | None = None
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    limits: list[dict[str, Any]] = Field(default_factory=list, description="RateLimit fields: requests/tokens, per.")
    max_concurrency: int | None = Field(default=None, ge=1)
    weight: float = Field(default=1.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _from_model_string(cls, data: Any) -> Any:
        """A deployment written as a bare model string (``"anthropic:claude-sonnet-4-5"``) is its client."""
        return {"client": data} if isinstance(data, str) else data


def _dump_deployment(deployment: Deployment, include_secrets: bool, index: int) -> DeploymentConfig:
    limits = [
        {"requests": x.requests, "per": x.per} if x.requests else {"tokens": x.tokens, "per": x.per}
        for x in deployment.limits
    ]
    return DeploymentConfig(
        client=nested_dump(deployment.client, include_secrets=include_secrets, field=f"deployments[{index}].client"),
        name=deployment.name,
        rpm=deployment.rpm,
        tpm=deployment.tpm,
        limits=limits,
        max_concurrency=deployment.max_concurrency,
        weight=deployment.weight,
    )


def _named(deployments: list[Deployment]) -> list[Deployment]:
    """Give each unnamed deployment its client's model (numbered when repeated); refuse duplicate names."""
    seen: set[str] = set()
    for index, deployment in enumerate(deployments):
        if deployment.name is None:
            base = str(getattr(deployment.client, "_model", None) or type(deployment.client).__name__)
            deployment.name = base if base not in seen else f"{base}#{index}"
        if deployment.name in seen:
            raise InvalidRequestError(f"two deployments are named {deployment.name!r}: names must be unique")
        seen.add(deployment.name)
    return deployments
