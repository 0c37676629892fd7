"""The modelport command.

    modelport demo                      walk through a call, a stream, a tool call and structured output,
                                        offline against the built-in fake server (--live for a real provider)
    modelport chat "What is 2+2?"       one prompt, streamed to the terminal
    modelport chat                      an interactive chat, with line editing and a history of prompts on a
                                        terminal; /help lists its commands (/model NAME, /clear, /save FILE);
                                        Ctrl-D or /exit leaves; Ctrl-C stops an answer (at the prompt, leaves)
    modelport chat --offline            the same against the built-in fake server: no key, no network
    modelport chat --config model.json  a client saved as a component config (JSON or YAML); --model
                                        replaces the config's model
    modelport config show FILE          the config as modelport reads it (secrets left out)
    modelport config validate FILE      check a config without calling anything
    modelport config schema [PROVIDER]  JSON Schema of component configs, for editors
    modelport usage [--by day]          calls, tokens and cost from the usage log (modelport.telemetry.UsageLog),
                                        as a table and a chart of the days (--db FILE, --since 7d)
    modelport batch IN.jsonl -o OUT     run a file of requests (OpenAI Batch API lines) into a results file, with
                                        --concurrency, --rpm/--tpm, --cache, --shard I/N, --dry-run; run it again
                                        to resume; --offline against the built-in fake server;
                                        `modelport batch merge IN PART... -o OUT` joins shards
    modelport models [--provider P]     the models modelport knows, with context windows and prices (--json)
    modelport completion bash|zsh|fish  a shell completion script (eval "$(modelport completion bash)")

Keys come from the environment: OPENAI_API_KEY, the variable of the --provider preset (each only for its own
server), or the one --api-key-env names. A --config file reads only its provider's own key for that provider's own
server; any other variable it names must be allowed with --allow-env NAME (repeatable), so a config written by
someone else cannot send your secrets to a host of theirs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, TextIO

from . import __version__
from ._cli_chat import Session, chat
from ._cli_errors import CommandError
from ._completion import SHELLS
from .errors import InvalidRequestError, ModelportError, NotFoundError
from .telemetry._usage_cli import add_usage_log_flag, usage_recorded

DEFAULT_MODEL = "gpt-4o-mini"
NO_KEY_HINT = "(try `modelport demo`, or `modelport chat --offline`, to run without a key)"


# The library's messages name Python arguments; on the command line the same things are flags.
_ARGUMENT_HINTS = [
    (
        re.compile(r"\b[Pp]ass model_info=\.\.\. to the client to describe it"),
        'Describe it with "model_info" in a client config (--config FILE)',
    ),
    (re.compile(r"\bbase_url=\.\.\."), "--base-url URL"),
    (re.compile(r"\bapi_key_env=\.\.\."), "--api-key-env NAME"),
    (re.compile(r"\bapi_key_env='(\w+)'"), r"--api-key-env \1"),
    (re.compile(r"\ballow_env=\['(\w+)'\] to load_component"), r"--allow-env \1"),
    (re.compile(r"\bprovider=\.\.\."), "--provider NAME"),
]
_ARGUMENT_NAMES = [
    (re.compile(r"\bbase_url\b"), "--base-url"),
    (re.compile(r"\bapi_key_env\b"), "--api-key-env"),
    (re.compile(r"^provider\b"), "--provider"),
    (re.compile(r"^model is required"), "--model is required"),
]


# With --config, a key withheld from the config's server is sent by naming it in the file (--api-key-env cannot be
# combined with --config) and allowing the config to read it.
_CONFIG_KEY_HINT = re.compile(r"\bpass api_key_env='(\w+)'")


def _flag_words(text: str, *, names: bool = False, config: str | None = None) -> str:
    """``text`` with the Python arguments it suggests (``base_url=...``) told as flags (``--base-url URL``);
    with ``names``, also the arguments it names (for an error in what the flags built); with ``config`` (the
    ``--config`` file), a variable to send is told as a field of that file to allow with ``--allow-env``."""
    if config:
        text = _CONFIG_KEY_HINT.sub(
            lambda m: f'set "api_key_env": "{m[1]}" in {config} and pass --allow-env {m[1]}', text
        )
    for pattern, flag in _ARGUMENT_HINTS + (_ARGUMENT_NAMES if names else []):
        text = pattern.sub(flag, text)
    return text


def _client(args: argparse.Namespace, base_url: str | None, *, fake: bool = False) -> Any:
    """The client the flags describe (or ``--config``); ``fake``: it talks to the built-in fake server."""
    if getattr(args, "config", None):
        return _client_from_config(args)
    from ._model_string import command_line_target

    native, provider, model, arguments = command_line_target(args.provider, args.model, getattr(args, "base_url", None))
    if native is not None:
        return _native_client(native, model, arguments, args, base_url, fake=fake)
    from .providers.openai import OpenAIChatCompletionClient

    model = model or DEFAULT_MODEL
    kwargs: dict[str, Any] = {"model": model}
    if base_url:
        kwargs["base_url"] = base_url
    if provider:
        kwargs["provider"] = provider
    if getattr(args, "max_retries", None) is not None:
        kwargs["max_retries"] = args.max_retries
    if fake:
        kwargs["api_key"] = "offline-demo"
    elif args.api_key_env:
        if not os.environ.get(args.api_key_env):
            raise CommandError(f"--api-key-env names {args.api_key_env}, which is not set", missing_key=True)
        kwargs["api_key_env"] = args.api_key_env
    else:
        _check_key(model, base_url, provider)
    try:
        return OpenAIChatCompletionClient(**kwargs)
    except InvalidRequestError as exc:
        raise CommandError(_flag_words(str(exc), names=True)) from None


def _native_client(
    provider: Any,
    model: str | None,
    arguments: dict[str, Any],
    args: argparse.Namespace,
    base_url: str | None,
    *,
    fake: bool,
) -> Any:
    """The client of a provider that is no OpenAI preset (``--provider bedrock``, ``--provider openai-responses``,
    ``--model anthropic:claude-sonnet-4-5``): its own credentials from the environment (or the variable
    ``--api-key-env`` names), or a stand-in key for the fake server. A client whose address is no base URL
    (Ollama's ``host``, Azure's endpoint) is given ``--base-url``'s root (``http://localhost:11434/v1``: the
    server at ``http://localhost:11434``)."""
    import importlib

    module, _, name = provider.client.partition(":")
    cls = getattr(importlib.import_module(f"modelport.{module}"), name)
    model = model or provider.default_model
    if not model:
        raise CommandError(f"--provider {provider.name.replace('_', '-')} needs --model NAME")
    kwargs: dict[str, Any] = {provider.model_argument: model, **arguments}
    if base_url:
        kwargs[provider.url_argument] = (
            base_url.rstrip("/").removesuffix("/v1") if provider.url_argument != "base_url" else base_url
        )
    if getattr(args, "api_key_env", None) and not provider.key_env:
        raise CommandError(f"--api-key-env: {provider.name.replace('_', '-')} takes no key")
    if fake and provider.key_env:
        kwargs["api_key"] = "offline-demo"
    elif getattr(args, "api_key_env", None):
        kwargs["api_key_env"] = args.api_key_env
    if getattr(args, "max_retries", None) is not None:
        kwargs["max_retries"] = args.max_retries
    from ._model_string import client_with_own_keys

    try:
        return client_with_own_keys(cls, kwargs, getattr(args, "api_key_env", None), base_url)
    except InvalidRequestError as exc:
        raise CommandError(_flag_words(str(exc), names=True), missing_key=not fake) from None


def _check_key(model: str, base_url: str | None, provider: str | None) -> None:
    """Raise the missing-key error exactly where the client would refuse to start without one (OpenAI itself, not
    a server ``OPENAI_BASE_URL`` names), told with the flags."""
    from .providers.openai.client import PRESETS, own_key_env, resolve_server

    try:
        _, preset, url, from_environment = resolve_server(model, base_url, provider)
    except InvalidRequestError:
        return  # an unknown --provider or a bad URL: the client says so
    if preset is not PRESETS["openai"] or own_key_env(preset, url, from_environment=from_environment) is None:
        return  # another server than OpenAI's own: the library asks for no key there
    if preset.key_env and not os.environ.get(preset.key_env):
        raise CommandError(
            f"{preset.key_env} is not set: set it, or name the variable that holds the key with --api-key-env "
            "NAME (for another server, pass --base-url URL or --provider NAME)",
            missing_key=True,
        )


_NOT_WITH_CONFIG = {
    "base_url": "--base-url",
    "provider": "--provider",
    "api_key_env": "--api-key-env",
    "offline": "--offline",
}


def _client_from_config(args: argparse.Namespace) -> Any:
    """The client a config file describes, with ``--model`` (if given) as its model."""
    from .client import ChatCompletionClient
    from .components import _as_model, load_component

    given = [flag for name, flag in _NOT_WITH_CONFIG.items() if getattr(args, name, None)]
    if given:
        raise CommandError(
            f"{' and '.join(given)} cannot be combined with --config: set {'it' if len(given) == 1 else 'them'} "
            f"in {args.config} instead"
        )
    component = _as_model(args.config)
    if args.model:
        component = component.model_copy(update={"config": _with_model(component.config, args.model, args.config)})
    return load_component(component, expected=ChatCompletionClient, allow_env=args.allow_env or ())


def _with_model(config: dict[str, Any], model: str, path: str) -> dict[str, Any]:
    """``config`` with ``model`` as its model (the wrapped client's, for a cache config)."""
    inner = config.get("client")
    if "model" not in config and isinstance(inner, dict) and isinstance(inner.get("config"), dict):
        return {**config, "client": {**inner, "config": _with_model(inner["config"], model, path)}}
    if config.get("azure_deployment"):
        raise CommandError(
            f"--model cannot change the model of an Azure config: its azure_deployment "
            f"({config['azure_deployment']!r}) decides which model answers; edit {path} instead"
        )
    return {**config, "model": model}


# -- demo --

# Flags that name a real server or its key: no use against the built-in fake server.
_NOT_OFFLINE = {"base_url": "--base-url", "api_key_env": "--api-key-env"}


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import walk_through

    out = sys.stdout
    if args.live:
        client = _client(args, args.base_url)
        out.write(f"modelport {__version__} demo against {client.base_url} ({client._model})\n\n")
        with Session(client) as session:
            session.run(walk_through(client, out))
        return 0
    given = [flag for name, flag in _NOT_OFFLINE.items() if getattr(args, name)]
    if given:
        raise CommandError(
            f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} for a real server: add --live (without it "
            "the demo talks to the built-in fake server)"
        )
    from .testing import FakeServer

    with FakeServer() as server:
        client = _client(args, server.base_url, fake=True)
        out.write(
            f"modelport {__version__} demo, offline: the built-in fake server at {server.base_url} plays the "
            "model.\nRun `modelport demo --live` with OPENAI_API_KEY set to talk to a real one.\n\n"
        )
        with Session(client) as session:
            session.run(walk_through(client, out))
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    with _server(args) as (base_url, fake):
        return chat(
            args,
            lambda model: _client(_flags_with_model(args, model), base_url, fake=fake),
            lambda exc: _error_line(exc, args)[0],
        )


def _flags_with_model(args: argparse.Namespace, model: str | None) -> argparse.Namespace:
    """The flags with ``model`` as ``--model`` (the flags themselves when ``model`` is ``None``)."""
    return args if model is None else argparse.Namespace(**{**vars(args), "model": model})


@contextlib.contextmanager
def _server(args: argparse.Namespace) -> Iterator[tuple[str | None, bool]]:
    """The base URL the flags name and whether it is the built-in fake server's (``--offline``, which runs it for
    the command's time)."""
    if not args.offline:
        yield args.base_url, False
        return
    given = [
        flag for name, flag in (("base_url", "--base-url"), ("api_key_env", "--api-key-env")) if getattr(args, name)
    ]
    if given:
        raise CommandError(
            f"{' and '.join(given)} cannot be combined with --offline, which talks to the built-in fake server"
        )
    from .testing import FakeServer

    with FakeServer() as server:
        yield server.base_url, True


def cmd_config(args: argparse.Namespace) -> int:
    import orjson

    from .components import _plain_descriptions, component_schemas, load_component

    try:
        if args.action == "schema":
            schemas = component_schemas()
            if args.target:
                if args.target not in schemas:
                    raise ValueError(f"no component named {args.target!r}; known: {', '.join(sorted(schemas))}")
                schemas = schemas[args.target]
            print(orjson.dumps(schemas, option=orjson.OPT_INDENT_2).decode())
            return 0
        if not args.target:
            raise ValueError(f"config {args.action} needs a config file")
        with _stand_in_keys():  # show and validate call nothing: a key not set yet is no mistake in the config
            component: Any = load_component(args.target, allow_env=args.allow_env or ())
        model = component.dump_component()
        if args.action == "validate":
            print(f"{args.target}: a valid {model.provider} config ({type(component).__name__})")
        else:
            shown = _plain_descriptions(model.model_dump(mode="json", exclude_none=True))
            print(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
        return 0
    except ValueError as exc:
        print(f"modelport: {_flag_words(str(exc))}", file=sys.stderr)
        return 2


@contextlib.contextmanager
def _stand_in_keys() -> Iterator[None]:
    """For the time of the block, a provider none of whose credential variables is set has a stand-in in its first
    one, so that a client is built from a config without the key it needs only to call."""
    from .providers._table import PROVIDERS

    unset = {row.key_env[0] for row in PROVIDERS if row.key_env and not any(os.environ.get(n) for n in row.key_env)}
    for name in unset:
        os.environ[name] = "stand-in-for-a-check"
    try:
        yield
    finally:
        for name in unset:
            os.environ.pop(name, None)


def cmd_batch(args: argparse.Namespace) -> int:
    from .batch._cli import cmd_batch as run

    with _server(args) as (base_url, offline):
        return run(args, lambda flags, dry_run: _client(flags, base_url, fake=offline or dry_run))


def cmd_usage(args: argparse.Namespace) -> int:
    import sqlite3

    import orjson

    from .telemetry._usage import default_usage_path
    from .telemetry._usage_report import parse_since, read_usage, render_report, report_json

    path = args.db or str(default_usage_path())
    since = parse_since(args.since) if args.since else None
    try:
        report = read_usage(path, by=args.by, since=since)
    except FileNotFoundError:
        raise CommandError(
            f"no usage log at {path}: `modelport chat` and `modelport batch` record their calls there, and "
            "modelport.telemetry.UsageLog records a program's (or pass --db FILE)"
        ) from None
    except sqlite3.Error as exc:
        raise CommandError(f"cannot read the usage log {path}: {exc}") from None
    if args.json:
        print(orjson.dumps(report_json(report, path=path, since=since), option=orjson.OPT_INDENT_2).decode())
        return 0
    text = render_report(report)
    if report.total.calls == 0 and args.since:
        text += f" since {args.since}"
    print(text)
    return 0


def _error_line(exc: BaseException, args: argparse.Namespace) -> tuple[str, int]:
    """What to say about ``exc`` (one line, and a hint where one helps) and the exit status."""
    if isinstance(exc, CommandError):
        return f"modelport: {exc}" + (f"\n{NO_KEY_HINT}" if exc.missing_key else ""), 2
    if isinstance(exc, InvalidRequestError) or not isinstance(exc, ModelportError):  # bad configuration or input
        return f"modelport: {_flag_words(str(exc))}", 2
    text = f"modelport: {type(exc).__name__}: {_flag_words(str(exc), config=getattr(args, 'config', None))}"
    base_url = getattr(args, "base_url", None)
    if isinstance(exc, NotFoundError) and exc.code != "model_not_found" and base_url and not _has_version(base_url):
        text += f"\n(is /v1 missing from --base-url? try --base-url {base_url.rstrip('/')}/v1)"
    return text, 1


def _has_version(url: str) -> bool:
    """Whether ``url``'s path has a version segment (``/v1``, ``/v1beta``) as API base URLs do."""
    from yarl import URL

    return any(re.fullmatch(r"v\d+\w*", part) for part in URL(url).path.split("/"))


def _one_line_warnings(fallback: Any) -> Any:
    """A ``warnings.showwarning`` that shows modelport's warnings (``UnknownModelWarning``...) as one line each,
    once: ``modelport: warning: ...``. Other warnings go to ``fallback``, Python's usual display."""
    shown: set[str] = set()

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if not category.__module__.startswith("modelport"):
            fallback(message, category, filename, lineno, file, line)
            return
        text = _flag_words(str(message))
        if text not in shown:
            shown.add(text)
            print(f"modelport: warning: {text}", file=file or sys.stderr, flush=True)

    return show


def common(p: argparse.ArgumentParser) -> None:
    """The flags that say which client to use."""
    p.add_argument(
        "--model",
        help=f"model name (default {DEFAULT_MODEL}), or a model string: anthropic:claude-sonnet-4-5, ollama:qwen3, "
        "groq:openai/gpt-oss-120b (modelport models lists some); with --config, replaces the config's model",
    )
    p.add_argument("--base-url", help="an OpenAI-compatible server, e.g. http://localhost:11434/v1")
    p.add_argument(
        "--provider",
        help="a preset of the OpenAI client: openai, ollama, vllm, llamacpp, lmstudio, deepseek, groq, openrouter, "
        "mistral, anthropic, bedrock-openai; or a provider's own client: gemini, vertex, azure, "
        "azure-openai-responses, openai-responses (OpenAI's Responses API), bedrock (Amazon Bedrock's Converse "
        "API, AWS credentials from the environment); a wrong name lists every one",
    )
    p.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="the environment variable that holds the key (default: OPENAI_API_KEY, or the preset's)",
    )


def allow_env(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-env", action="append", metavar="NAME", help="let --config read this variable")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelport", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"modelport {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="walk through the main features (offline unless --live)")
    common(demo)
    demo.add_argument("--live", action="store_true", help="use a real provider (keys from the environment)")
    demo.set_defaults(func=cmd_demo)

    chat = sub.add_parser(
        "chat",
        help="send one prompt, or chat interactively",
        epilog="On a terminal, prompts are kept for Up to recall in $XDG_STATE_HOME/modelport/chat_history "
        "(~/.local/state/modelport/chat_history); set MODELPORT_CHAT_HISTORY to another file, or empty for none.",
    )
    common(chat)
    chat.add_argument("prompt", nargs="*", help="the prompt; without one, an interactive chat")
    chat.add_argument("--system", help="a system message")
    chat.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    chat.add_argument("--offline", action="store_true", help="talk to the built-in fake server")
    chat.add_argument("--config", help="a client saved as a component config (JSON or YAML file)")
    allow_env(chat)
    add_usage_log_flag(chat)
    chat.set_defaults(func=cmd_chat)

    config = sub.add_parser("config", help="show, validate, or print the JSON Schema of component configs")
    config.add_argument("action", choices=["show", "validate", "schema"])
    config.add_argument("target", nargs="?", help="the config file (show, validate) or a provider name (schema)")
    allow_env(config)
    config.set_defaults(func=cmd_config)

    usage = sub.add_parser("usage", help="calls, tokens and cost from the usage log, with a chart of the days")
    usage.add_argument(
        "--db", metavar="FILE", help="the usage log (default $MODELPORT_USAGE_DB or ~/.modelport/usage.sqlite3)"
    )
    usage.add_argument(
        "--by", choices=["model", "day", "provider"], default="model", help="group rows by (default model)"
    )
    usage.add_argument("--since", metavar="WHEN", help="only calls since an ISO date (2025-01-31) or a span (7d, 24h)")
    usage.add_argument("--json", action="store_true", help="print the report as JSON (costs as exact strings)")
    usage.set_defaults(func=cmd_usage)

    from . import _models_command

    _models_command.add_arguments(sub.add_parser("models", help="the models modelport knows, with context and prices"))

    from .batch._cli import add_arguments

    batch = sub.add_parser(
        "batch",
        help="run a JSONL file of requests into a results file (resumable)",
        epilog="modelport batch merge IN.jsonl PART.jsonl... -o OUT.jsonl joins the results of shards "
        "(modelport batch merge --help)",
    )
    common(batch)
    add_arguments(batch)
    batch.add_argument("--offline", action="store_true", help="run against the built-in fake server (no key)")
    allow_env(batch)
    add_usage_log_flag(batch)
    batch.set_defaults(func=cmd_batch)

    completion = sub.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=SHELLS, help='bash (eval "$(modelport completion bash)"), zsh or fish')
    completion.set_defaults(func=cmd_completion)
    return parser


def cmd_completion(args: argparse.Namespace) -> int:
    from ._completion import completion_script

    sys.stdout.write(completion_script(args.shell, _parser(), {"batch": ["merge"]}))
    return 0


def cmd_batch_merge(args: argparse.Namespace) -> int:
    from .batch._cli import cmd_batch as run

    files = argparse.Namespace(files=["merge", args.requests, *args.parts], output=args.output)
    return run(files, lambda flags, dry_run: None)  # merging calls no model


def _merge_parser() -> argparse.ArgumentParser:
    """``modelport batch merge``'s own flags and help (``batch`` itself takes a requests file where it names
    ``merge``)."""
    merge = argparse.ArgumentParser(
        prog="modelport batch merge",
        description="Join the results files of a batch run in shards (--shard I/N) into one: each request's result "
        "once, in the requests file's order, a success preferred to a failure.",
    )
    merge.add_argument("requests", metavar="IN.jsonl", help="the requests file the shards ran")
    merge.add_argument("parts", nargs="+", metavar="PART.jsonl", help="the shards' results files")
    merge.add_argument("-o", "--output", metavar="OUT.jsonl", required=True, help="the merged results file")
    merge.set_defaults(func=cmd_batch_merge)
    return merge


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = _merge_parser().parse_args(words[2:]) if words[:2] == ["batch", "merge"] else _parser().parse_args(words)
    with warnings.catch_warnings():
        warnings.showwarning = _one_line_warnings(warnings.showwarning)
        try:
            with usage_recorded(args):
                code: int = args.func(args)
        except BrokenPipeError:  # the reader went away (`modelport demo | head`): stop quietly, as `yes | head` does
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit cannot fail again
            return 141
        except KeyboardInterrupt:
            if sys.stdout.isatty():
                print(flush=True)  # the shell's prompt on a line of its own, not after ^C
            return 130
        except (CommandError, ModelportError, ValueError) as exc:
            text, code = _error_line(exc, args)
            print(text, file=sys.stderr)
            return code
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
