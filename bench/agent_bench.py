#!/usr/bin/env python3
"""A 200-turn AutoGen agent benchmark: ``AssistantAgent`` over ``AutoGenClient(modelport's client)`` against the same
agent over autogen-ext's own ``OpenAIChatCompletionClient``, both talking to ``fast_server.py``.

    python bench/agent_bench.py                          # 200 turns, every mode, 3 runs a side
    python bench/agent_bench.py --mode stream --turns 50 --repeats 5
    python bench/agent_bench.py --peers-python /path/to/venv/bin/python

One agent takes ``--turns`` turns in one conversation (``agent.run(task=...)`` each turn), its history growing as a
real chat's does; ``--buffer N`` sends only the last N messages, so every call has the same size. Modes: ``text``
(one plain completion a turn), ``stream`` (``model_client_stream=True``, 50 chunks a turn) and ``tools`` (a tool
call a turn, which the agent runs). Each side runs in its own process: the modelport side with this Python,
autogen-ext's side with the peers venv's Python (autogen-ext[openai] and autogen-agentchat live there, not in
modelport's environment). The mock server runs in a third process, pinned to another core where there is one.
Figures are each worker's CPU time (``time.process_time``, so the server's work is not counted) and wall time over
the measured turns, after a few warm-up turns; the median of the runs is shown. CPU per turn includes AutoGen's
agent machinery, which is the same on both sides: the difference is the clients'.

Not part of the test suite: nothing imports this file, and CI does not run it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MOCK_SERVER = Path(os.environ.get("MODELPORT_MOCK_SERVER", Path(__file__).with_name("fast_server.py")))
PEERS_PYTHON = os.environ.get("MODELPORT_PEERS_PYTHON", "/tmp/modelport-peers/bin/python")
MODES = ("text", "stream", "tools")
SIDES = ("modelport", "autogen-ext")
WARMUP_TURNS = 5
STREAM_CHUNKS = 50
MODEL_INFO = {"vision": False, "function_calling": True, "json_output": True, "family": "gpt-4o",
              "structured_output": True}


# -- the worker: one side, one run, in its own process --

def get_weather(city: str, unit: str = "celsius") -> str:
    """The weather in a city."""
    return f"21 degrees {unit} in {city}"


def make_model_client(side: str, base_url: str, mode: str) -> Any:
    model = "gpt-4o-tools" if mode == "tools" else "gpt-4o"
    create_args: dict[str, Any] = {"max_tokens": STREAM_CHUNKS} if mode == "stream" else {}
    if side == "modelport":
        from modelport import OpenAIChatCompletionClient
        from modelport.integrations.autogen import AutoGenClient

        return AutoGenClient(OpenAIChatCompletionClient(model=model, base_url=base_url, api_key="bench",
                                                        model_info=dict(MODEL_INFO), **create_args))
    from autogen_ext.models.openai import OpenAIChatCompletionClient as AutoGenOpenAIClient

    return AutoGenOpenAIClient(model=model, base_url=base_url, api_key="bench", model_info=dict(MODEL_INFO),
                               **create_args)


def make_agent(client: Any, mode: str, buffer: int) -> Any:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_core.model_context import BufferedChatCompletionContext

    tools = [get_weather] if mode == "tools" else []
    context = BufferedChatCompletionContext(buffer_size=buffer) if buffer else None
    return AssistantAgent("assistant", model_client=client, tools=tools, model_client_stream=(mode == "stream"),
                          system_message="You are a helpful assistant.", model_context=context)


async def take_turns(agent: Any, turns: int, mode: str) -> str:
    """``turns`` turns of one conversation; the last answer's text (a check that both sides did the same work)."""
    result: Any = None
    for i in range(turns):
        task = f"Question {i}: what is the weather in Paris?"
        if mode == "stream":
            async for event in agent.run_stream(task=task):
                result = event  # the last item is the TaskResult
        else:
            result = await agent.run(task=task)
    return str(result.messages[-1].content)


async def run_worker(side: str, base_url: str, mode: str, turns: int, buffer: int) -> dict[str, Any]:
    client = make_model_client(side, base_url, mode)
    await take_turns(make_agent(client, mode, buffer), WARMUP_TURNS, mode)  # connections, imports, first uses
    agent = make_agent(client, mode, buffer)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    answer = await take_turns(agent, turns, mode)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    usage = client.total_usage()
    await client.close()
    return {"side": side, "mode": mode, "turns": turns, "cpu_s": cpu, "wall_s": wall, "last_answer": answer[:60],
            "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}


# -- the driver: the server, the runs, the table --

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cmd: list[str], core: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(core), *cmd]
    return cmd


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(pinned([sys.executable, str(MOCK_SERVER), "--port", str(port)], 1),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return server, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise RuntimeError("the mock server did not start")


def run_side(python: str, side: str, base_url: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [python, __file__, "--worker", side, "--base-url", base_url, "--mode", mode, "--turns", str(args.turns),
           "--buffer", str(args.buffer)]
    done = subprocess.run(pinned(cmd, 0), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{side} worker failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    turns = runs[0]["turns"]
    cpu = statistics.median(r["cpu_s"] for r in runs)
    wall = statistics.median(r["wall_s"] for r in runs)
    return {"cpu_ms_per_turn": cpu / turns * 1000, "wall_ms_per_turn": wall / turns * 1000, "wall_s": wall,
            "runs": len(runs), "last_answer": runs[-1]["last_answer"]}


def print_table(mode: str, args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> None:
    history = f"the last {args.buffer} messages sent" if args.buffer else "the whole history sent each turn"
    print(f"\nmode={mode}: {args.turns} turns in one conversation ({history}), median of {args.repeats} runs")
    print(f"  {'side':<12} {'CPU/turn':>10} {'wall/turn':>10} {'wall total':>11}   last answer")
    for side in SIDES:
        r = results[side]
        print(f"  {side:<12} {r['cpu_ms_per_turn']:>7.3f} ms {r['wall_ms_per_turn']:>7.3f} ms {r['wall_s']:>9.3f} s"
              f"   {r['last_answer']!r}")
    mp, ag = results["modelport"], results["autogen-ext"]
    print(f"  autogen-ext / modelport: CPU x{ag['cpu_ms_per_turn'] / mp['cpu_ms_per_turn']:.2f}, "
          f"wall x{ag['wall_ms_per_turn'] / mp['wall_ms_per_turn']:.2f}")


def drive(args: argparse.Namespace) -> None:
    if not Path(args.peers_python).exists():
        sys.exit(f"no peers Python at {args.peers_python}: pass --peers-python (a venv with autogen-ext[openai] and "
                 "autogen-agentchat)")
    server, base_url = start_server()
    pythons = {"modelport": sys.executable, "autogen-ext": args.peers_python}
    report: dict[str, Any] = {}
    try:
        for mode in args.mode or MODES:
            runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
            for _ in range(args.repeats):  # the sides take turns, so drift on the machine hits both alike
                for side in SIDES:
                    runs[side].append(run_side(pythons[side], side, base_url, mode, args))
            report[mode] = {side: summary(r) for side, r in runs.items()}
            print_table(mode, args, report[mode])
    finally:
        server.terminate()
        server.wait(timeout=10)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))

# -- CAMEL: ChatAgent over CAMEL's own OpenAI backend against ChatAgent over CamelModel(modelport's client) --

def camel_bench(args: argparse.Namespace) -> None:
    """``--camel``: the same conversation through CAMEL's ``ChatAgent``, on CAMEL's own OpenAI backend and on
    ``CamelModel`` over modelport's client, both sides in processes of ``--camel-python`` (which needs camel-ai and
    modelport), with the synchronous ``step`` (modes ``text`` and ``stream``) and ``astep`` (mode ``async``). With
    ``--worker camel-ai|camel-modelport`` it is the worker, and prints its figures as JSON."""
    if args.worker:
        print(json.dumps(asyncio.run(_camel_turns(args.worker, args.base_url, args.camel_mode, args.turns))))
        return
    environment = dict(os.environ)
    if "TIKTOKEN_CACHE_DIR" not in environment:  # CAMEL's own counter would download its encoding: give it a cache
        import hashlib
        import tempfile

        import modelport

        cache = Path(tempfile.mkdtemp(prefix="tiktoken-cache-"))
        for name in ("o200k_base", "cl100k_base"):
            url = f"https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
            packaged = Path(modelport.__file__).parent / "data" / "tiktoken" / f"{name}.tiktoken"
            shutil.copy(packaged, cache / hashlib.sha1(url.encode()).hexdigest())
        environment["TIKTOKEN_CACHE_DIR"] = str(cache)
    server, base_url = start_server()
    report: dict[str, Any] = {}
    try:
        for mode in ("text", "stream", "async"):
            runs: dict[str, list[dict[str, Any]]] = {"camel-modelport": [], "camel-ai": []}
            for _ in range(args.repeats):
                for side, side_runs in runs.items():
                    cmd = [args.camel_python, __file__, "--camel", "--worker", side, "--base-url", base_url,
                           "--camel-mode", mode, "--turns", str(args.turns)]
                    done = subprocess.run(pinned(cmd, 0), capture_output=True, text=True, env=environment)
                    if done.returncode != 0:
                        raise RuntimeError(f"{side} worker failed:\n{done.stderr[-3000:]}")
                    side_runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
            report[mode] = {side: summary(r) for side, r in runs.items()}
            mp, own = report[mode]["camel-modelport"], report[mode]["camel-ai"]
            print(f"\nCAMEL mode={mode}: {args.turns} turns in one conversation, median of {args.repeats} runs")
            for side, r in (("modelport", mp), ("camel-ai", own)):
                print(f"  {side:<10} {r['cpu_ms_per_turn']:>7.3f} ms CPU/turn "
                      f"{r['wall_ms_per_turn']:>7.3f} ms wall/turn   {r['last_answer']!r}")
            print(f"  camel-ai / modelport: CPU x{own['cpu_ms_per_turn'] / mp['cpu_ms_per_turn']:.2f}, "
                  f"wall x{own['wall_ms_per_turn'] / mp['wall_ms_per_turn']:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


async def _camel_turns(side: str, base_url: str, mode: str, turns: int) -> dict[str, Any]:
    from camel.agents import ChatAgent

    config: dict[str, Any] = {"stream": mode == "stream"}
    if mode == "stream":
        config["max_tokens"] = STREAM_CHUNKS
    if side == "camel-modelport":
        from modelport import OpenAIChatCompletionClient
        from modelport.integrations.camel import CamelModel

        model: Any = CamelModel(OpenAIChatCompletionClient(model="gpt-4o", base_url=base_url, api_key="bench",
                                                           model_info=dict(MODEL_INFO)), model_config_dict=config)
    else:
        from camel.models import ModelFactory
        from camel.types import ModelPlatformType

        model = ModelFactory.create(ModelPlatformType.OPENAI, "gpt-4o", model_config_dict=config, url=base_url,
                                    api_key="bench")

    async def take(agent: Any, n: int) -> str:
        answer = ""
        for i in range(n):
            task = f"Question {i}: what is the weather in Paris?"
            if mode == "async":
                answer = (await agent.astep(task)).msgs[0].content
            elif mode == "stream":  # delta mode: each update holds its new text
                answer = "".join(update.msgs[0].content for update in agent.step(task) if update.msgs)
            else:
                answer = agent.step(task).msgs[0].content
        return str(answer)

    def new_agent() -> Any:
        return ChatAgent("You are a helpful assistant.", model=model, stream_accumulate=False)

    await take(new_agent(), WARMUP_TURNS)
    agent = new_agent()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    answer = await take(agent, turns)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if side == "camel-modelport":
        await model.client.close()
        model.client.close_sync()
    return {"side": side, "mode": mode, "turns": turns, "cpu_s": cpu, "wall_s": wall, "last_answer": answer[:60]}


# -- DB-GPT mode: the same conversation through an AWEL LLM operator on DB-GPT's own OpenAI proxy client vs on
# DBGPTClient(modelport's client). dbgpt pins aiohttp 3.8.4, so both sides run with --dbgpt-python (a venv with
# dbgpt, cloudpickle, openai and modelport installed: pip install -e '.[dbgpt]' openai).

def run_dbgpt(args: argparse.Namespace) -> None:
    """Driver (``--dbgpt``) and worker (``--dbgpt-worker SIDE``) of the DB-GPT mode, text and stream: each turn
    sends the whole history, as a DB-GPT chat does, through ``LLMOperator`` or ``StreamingLLMOperator``."""
    sides = ("modelport", "dbgpt-openai")
    if args.dbgpt_worker:
        async def worker() -> dict[str, Any]:
            from dbgpt.core import ModelMessage, ModelRequest
            from dbgpt.core.awel import DAG
            from dbgpt.model.operators import LLMOperator, StreamingLLMOperator

            stream = args.mode[0] == "stream" if args.mode else False
            if args.dbgpt_worker == "modelport":
                from modelport import OpenAIChatCompletionClient
                from modelport.integrations.dbgpt import DBGPTClient

                client: Any = DBGPTClient(OpenAIChatCompletionClient(
                    model="gpt-4o", base_url=args.base_url, api_key="bench", model_info=dict(MODEL_INFO)))
            else:
                from dbgpt.model.proxy.llms.chatgpt import OpenAILLMClient

                client = OpenAILLMClient(api_key="bench", api_base=args.base_url, model="gpt-4o", model_alias="gpt-4o")
            with DAG("bench"):
                llm = StreamingLLMOperator(llm_client=client) if stream else LLMOperator(llm_client=client)
            history = [ModelMessage.build_system_message("You are a helpful assistant.") if hasattr(
                ModelMessage, "build_system_message") else ModelMessage(role="system", content="You are helpful.")]

            async def turns(n: int) -> str:
                text = ""
                for i in range(n):
                    history.append(ModelMessage.build_human_message(f"Question {i}: what is the weather in Paris?"))
                    request = ModelRequest.build_request("gpt-4o", list(history), stream=stream,
                                                         max_new_tokens=STREAM_CHUNKS if stream else None)
                    if stream:
                        async for output in await llm.call_stream(request):
                            text = output.text
                    else:
                        text = (await llm.call(request)).text
                    history.append(ModelMessage(role="ai", content=text))
                return text

            await turns(WARMUP_TURNS)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            answer = await turns(args.turns)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            return {"side": args.dbgpt_worker, "turns": args.turns, "cpu_s": cpu, "wall_s": wall,
                    "last_answer": answer[:60]}

        print(json.dumps(asyncio.run(worker())))
        return
    server, base_url = start_server()
    try:
        for mode in args.mode or ("text", "stream"):
            runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
            for _ in range(args.repeats):
                for side in sides:
                    cmd = [args.dbgpt_python, __file__, "--dbgpt-worker", side, "--base-url", base_url, "--mode",
                           mode, "--turns", str(args.turns)]
                    done = subprocess.run(pinned(cmd, 0), capture_output=True, text=True)
                    if done.returncode != 0:
                        raise RuntimeError(f"{side} worker failed:\n{done.stderr[-3000:]}")
                    runs[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
            results = {side: summary(r) for side, r in runs.items()}
            print(f"\nDB-GPT mode={mode}: {args.turns} turns, whole history each turn, median of {args.repeats} runs")
            for side in sides:
                r = results[side]
                print(f"  {side:<13} {r['cpu_ms_per_turn']:>7.3f} ms CPU/turn {r['wall_ms_per_turn']:>7.3f}"
                      f" ms wall/turn   {r['last_answer']!r}")
            ratio = results["modelport"]["cpu_ms_per_turn"] / results["dbgpt-openai"]["cpu_ms_per_turn"]
            print(f"  modelport / DB-GPT's own client: CPU x{ratio:.2f}")
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", action="append", choices=MODES, help="repeatable; default: every mode")
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--buffer", type=int, default=0,
                        help="send only the last N messages (BufferedChatCompletionContext); 0: the whole history")
    parser.add_argument("--peers-python", default=PEERS_PYTHON)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--camel", action="store_true", help="the CAMEL comparison instead (see camel_bench)")
    parser.add_argument("--camel-python", default=os.environ.get("MODELPORT_CAMEL_PYTHON", sys.executable))
    parser.add_argument("--camel-mode", default="text", help=argparse.SUPPRESS)
    parser.add_argument("--worker", choices=(*SIDES, "camel-ai", "camel-modelport"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--dbgpt", action="store_true", help="the DB-GPT mode (see run_dbgpt)")
    parser.add_argument("--dbgpt-python", default=sys.executable, help="a venv's Python with dbgpt and openai")
    parser.add_argument("--dbgpt-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.camel:
        camel_bench(args)
    elif args.dbgpt or args.dbgpt_worker:
        run_dbgpt(args)
    elif args.worker:
        mode = args.mode[0] if args.mode else "text"
        print(json.dumps(asyncio.run(run_worker(args.worker, args.base_url, mode, args.turns, args.buffer))))
    else:
        drive(args)


if __name__ == "__main__":
    main()
