"""What a call cost: a dated price table shipped with the package, your own prices, and :func:`cost_of`.

The table (``modelport/data/prices.json``) holds US dollars per million tokens for pay-as-you-go use of each
provider's own API, with its source and date; it is read once, from the package, never from the network. A model
that is not in it has no price, and its cost is ``None``: never a guess. Prompt tokens read from the provider's
cache and tokens written to it are priced at their own rates, not twice; reasoning tokens are part of the completion
and priced as output.

    from modelport.pricing import Price, register_price

    register_price("my-finetune", Price(input="0.50", output="1.50"))            # everywhere
    client = OpenAIChatCompletionClient(..., prices={"my-model": Price(input=1, output=2)})   # one client
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

from .errors import InvalidRequestError
from .messages import RequestUsage

__all__ = ["Price", "cost_of", "price_for", "price_table_info", "priced_models", "register_price"]

_MILLION = Decimal(1_000_000)
# Which table a client's provider reads: Azure serves OpenAI's models at OpenAI's list prices, and OpenAI's
# Responses API serves them at the same prices as chat completions.
_TABLE_OF = {"azure_openai": "openai", "azure_openai_responses": "openai", "openai_responses": "openai"}


_RATES = ("input", "output", "cached_input", "cache_write")
_MAX_RATE = Decimal(1_000_000)
"""The highest rate taken, in US dollars per million tokens (a dollar a token): anything above it is a mistake,
and a rate far above it (``1e999999``) would overflow the cost of the first call."""


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise InvalidRequestError(f"Price.{name} must be a number (or a str of one), not {type(value).__name__}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidRequestError(f"Price.{name} must be a number (or a str of one), got {value!r:.60}") from None
    if not number.is_finite() or number < 0:
        raise InvalidRequestError(f"Price.{name} must be a finite number of 0 or more, got {value!r:.60}")
    if number > _MAX_RATE:
        raise InvalidRequestError(
            f"Price.{name} must be at most {_MAX_RATE} (US dollars per million tokens), got {value!r:.60}"
        )
    return number


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens. ``cached_input`` (a prompt token read from the provider's cache) and
    ``cache_write`` (one written to it) default to ``input`` when the provider has no such rate. ``above`` is
    ``(prompt_tokens, price)``: a call whose prompt has more tokens than that is priced at the other price (Gemini's
    long-context rates), written ``{"above": {"prompt_tokens": 200000, "input": ..., "output": ...}}`` in a dict."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = field(default=None)
    cache_write: Decimal | None = field(default=None)
    above: tuple[int, Price] | None = field(default=None)

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if value is not None or name in ("input", "output"):  # the cache rates may be left out, these not
                object.__setattr__(self, name, _decimal(value, name))
        above = self.above
        if above is not None and not (
            isinstance(above, tuple)
            and len(above) == 2
            and type(above[0]) is int
            and above[0] > 0
            and isinstance(above[1], Price)
        ):
            raise InvalidRequestError("Price.above must be (prompt tokens, a Price), with prompt tokens above 0")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Price:
        above = data.get("above")
        if above is not None:
            if not isinstance(above, Mapping) or "prompt_tokens" not in above:
                raise InvalidRequestError("Price.above must be a dict of prompt_tokens and the rates above it")
            above = (above["prompt_tokens"], cls.from_dict({k: v for k, v in above.items() if k != "prompt_tokens"}))
        return cls(**{key: data[key] for key in _RATES if key in data}, above=above)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {key: str(getattr(self, key)) for key in _RATES if getattr(self, key) is not None}
        if self.above is not None:
            out["above"] = {"prompt_tokens": self.above[0], **self.above[1].as_dict()}
        return out


def cost_of(usage: RequestUsage, price: Price) -> Decimal:
    """The cost of ``usage`` at ``price``, in US dollars: uncached prompt tokens at ``input``, cache reads at
    ``cached_input``, cache writes at ``cache_write``, the completion (reasoning included) at ``output``; all at
    ``price.above``'s rates when the prompt is longer than its threshold."""
    if price.above is not None and usage.prompt_tokens > price.above[0]:
        price = price.above[1]
    read = usage.cached_prompt_tokens or 0
    written = usage.cache_write_tokens or 0
    fresh = max(usage.prompt_tokens - read - written, 0)
    total = (
        fresh * price.input
        + read * (price.cached_input if price.cached_input is not None else price.input)
        + written * (price.cache_write if price.cache_write is not None else price.input)
        + usage.completion_tokens * price.output
    )
    return total / _MILLION


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    text = resources.files("modelport").joinpath("data/prices.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    data["providers"] = {
        provider: {model: Price.from_dict(price) for model, price in models.items()}
        for provider, models in data["providers"].items()
    }
    return data


def price_table_info() -> dict[str, str]:
    """Where the shipped prices come from, and their date."""
    table = _table()
    return {"source": table["source"], "date": table["date"]}


def priced_models(provider: str | None = None) -> dict[str, dict[str, Price]]:
    """The shipped table's models with their prices, by the provider whose table it is: ``provider``'s (a
    provider's or an OpenAI preset's name; Azure's is OpenAI's), or every provider's."""
    tables: dict[str, dict[str, Price]] = _table()["providers"]
    if provider is None:
        return {name: dict(models) for name, models in tables.items()}
    name = _TABLE_OF.get(provider, provider)
    return {name: dict(tables[name])} if name in tables else {}


_REGISTERED: dict[str, Price] = {}


def register_price(model: str, price: Price) -> None:
    """Price ``model`` (and its dated versions, ``model-2025-...``) for every client, over the shipped table."""
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("register_price: model must be a non-empty str")
    if not isinstance(price, Price):
        raise InvalidRequestError(f"register_price: price must be a Price, not {type(price).__name__}")
    _REGISTERED[model] = price


def _match(model: str, prices: Mapping[str, Price]) -> Price | None:
    """``model`` itself, or the longest name it extends with a ``-suffix`` (a date, a version)."""
    exact = prices.get(model)
    if exact is not None:
        return exact
    best = max((name for name in prices if model.startswith(name + "-")), key=len, default=None)
    return prices[best] if best is not None else None


def price_for(model: str | None, provider: str, own: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model`` as ``provider`` serves it: a client's ``own`` prices first, then those registered,
    then the shipped table; ``None`` when nobody priced it."""
    if not model:
        return None
    for prices in (own, _REGISTERED):
        if prices:
            found = _match(model, prices)
            if found is not None:
                return found
    table = _table()["providers"].get(_TABLE_OF.get(provider, provider))
    return _match(model, table) if table else None


def check_prices(prices: Any) -> dict[str, Price]:
    """A client's ``prices=`` argument, checked: model names to :class:`Price` (or dicts of one). Anything else is
    an :class:`~modelport.InvalidRequestError` naming the model and the rate."""
    if prices is None:
        return {}
    if not isinstance(prices, Mapping):
        raise InvalidRequestError(f"prices must be a dict of model names to Price, not {type(prices).__name__}")
    checked = {}
    for model, price in prices.items():
        if not isinstance(model, str) or not model:
            raise InvalidRequestError(f"prices[{model!r}]: a model name must be a non-empty str")
        checked[model] = _price_of(model, price)
    return checked


def _price_of(model: str, price: Any) -> Price:
    """``prices[model]`` as a :class:`Price`."""
    if isinstance(price, Price):
        return price
    if not isinstance(price, Mapping):
        raise InvalidRequestError(
            f"prices[{model!r}] must be a Price (or a dict with input and output), not {type(price).__name__}"
        )
    unknown = [key for key in price if key not in (*_RATES, "above")]
    if unknown:
        raise InvalidRequestError(
            f"prices[{model!r}][{unknown[0]!r:.60}] is not a rate (the rates are {', '.join(_RATES)})"
        )
    missing = [key for key in ("input", "output") if key not in price]
    if missing:
        raise InvalidRequestError(f"prices[{model!r}] has no {' and no '.join(missing)} rate")
    try:
        return Price.from_dict(price)
    except InvalidRequestError as exc:
        raise InvalidRequestError(f"prices[{model!r}]: {exc}") from None
