"""``modelport models [--provider NAME] [--json]``: the models modelport knows, with context windows and prices.

It reads the package's own data, the model registry (:mod:`modelport.model_info`) and the dated price table
(:mod:`modelport.pricing`), and never the network: it answers the same offline, at once, whatever server is up.
What a server itself serves (an Ollama or vLLM server's models, OpenRouter's catalogue) is its client's
``await client.list_models()``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model_info import ModelInfo

__all__ = ["add_arguments", "cmd_models", "known_models"]


@dataclass(frozen=True)
class KnownModel:
    """A model of the price table, as the command shows it."""

    provider: str
    model: str
    context_window: int | None
    max_output_tokens: int | None
    price: dict[str, Any]

    @property
    def model_string(self) -> str:
        return f"{self.provider}:{self.model}"

    def as_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "model_string": self.model_string,
            "context_window": self.context_window,
            "max_output_tokens": self.max_output_tokens,
            "price_per_million_tokens": self.price,
        }


def known_models(provider: str | None = None) -> list[KnownModel]:
    """The models of ``provider`` (a name a model string takes; every provider's when None) that the price table
    holds, with the registry's context window and longest answer where it knows the model."""
    from ._model_string import command_line_target
    from .pricing import priced_models

    if provider is None:
        tables = priced_models()
    else:
        native, preset, _, _ = command_line_target(provider, None, None)
        table_of = preset or (native.name if native is not None else provider)
        tables = priced_models(table_of)
    found = []
    for owner, models in tables.items():
        for model, price in models.items():
            info = _registry_info(model)
            found.append(
                KnownModel(
                    provider=provider or owner,
                    model=model,
                    context_window=info.get("context_window") if info is not None else None,
                    max_output_tokens=info.get("max_output_tokens") if info is not None else None,
                    price=price.as_dict(),
                )
            )
    return found


def _registry_info(model: str) -> ModelInfo | None:
    """The registry's entry for ``model``, or for its name without a vendor or region prefix
    (``us.anthropic.claude-sonnet-4-5``: ``claude-sonnet-4-5``); None when it has neither."""
    from .model_info import UNKNOWN_MODEL_INFO, lookup_model_info

    for name in (model, model.rsplit(".", 1)[-1]):
        info = lookup_model_info(name, warn=False)
        if info is not UNKNOWN_MODEL_INFO:
            return info
    return None


def _tokens(count: int | None) -> str:
    if count is None:
        return "?"
    return f"{count // 1_000_000}M" if count % 1_000_000 == 0 else f"{round(count / 1000):,}k"


def _dollars(price: dict[str, Any], rate: str) -> str:
    value = price.get(rate)
    return f"${value}" if value is not None else "-"


def render_table(models: list[KnownModel]) -> str:
    """The models as a plain-text table, one line each."""
    header = ("MODEL STRING", "CONTEXT", "MAX OUT", "INPUT", "OUTPUT", "CACHED IN")
    rows = [
        (
            m.model_string,
            _tokens(m.context_window),
            _tokens(m.max_output_tokens),
            _dollars(m.price, "input"),
            _dollars(m.price, "output"),
            _dollars(m.price, "cached_input"),
        )
        for m in models
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    return "\n".join(line.rstrip() for line in lines)


def cmd_models(args: argparse.Namespace) -> int:
    import orjson

    from .pricing import price_table_info

    provider = args.provider.strip().lower().replace("_", "-") if args.provider else None
    models = known_models(provider)
    about = price_table_info()
    if args.json:
        document = {"source": about["source"], "date": about["date"], "models": [m.as_json() for m in models]}
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    if not models:
        print(
            f"modelport knows no models of {provider} (it ships no prices for it): its server lists its own, with "
            "`await client.list_models()`"
        )
        return 0
    print(render_table(models))
    print(f"\nUS dollars per million tokens, from {about['source']} ({about['date']}); '?': not recorded")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``models`` command's flags."""
    parser.add_argument("--provider", help="only this provider's models (a model string's provider name)")
    parser.add_argument("--json", action="store_true", help="print JSON, for scripts")
    parser.set_defaults(func=cmd_models)
