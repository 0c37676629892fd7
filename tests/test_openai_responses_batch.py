"""``modelport batch`` lines whose ``url`` is ``/v1/responses``: run through the Responses client (a real
``modelport`` subprocess against the fake server), answered with a ``response`` object, and a file mixing them with
``/v1/chat/completions`` lines refused in one line unless a router config serves both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelport import OpenAIChatCompletionClient
from modelport.providers.openai_responses import OpenAIResponsesClient
from modelport.router import Deployment, Router
from modelport.testing import FakeServer

from .helpers import finish
from .test_batch import _batch, _results

TOOL = {"type": "function", "name": "get_weather", "strict": False,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def _line(custom_id: str, url: str, body: dict[str, Any]) -> str:
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body}) + "\n"


def _responses_lines(path: Path) -> Path:
    follow_up = [{"role": "user", "content": "Weather in Oslo?"},
                 {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Oslo"}'},
                 {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]
    path.write_text(
        _line("plain", "/v1/responses", {"model": "gpt-4o", "instructions": "Be brief.", "input": "Hello there",
                                         "max_output_tokens": 50})
        + _line("call", "/v1/responses", {"model": "gpt-4o", "input": [{"role": "user", "content": "Weather in Oslo?"}],
                                          "tools": [TOOL]})
        + _line("answer", "/v1/responses", {"model": "gpt-4o", "input": follow_up, "tools": [TOOL]})
    )
    return path


def test_responses_lines_run_through_the_responses_client(tmp_path: Path) -> None:
    requests, out = _responses_lines(tmp_path / "in.jsonl"), tmp_path / "out.jsonl"
    with FakeServer() as server:
        code, _, err = finish(_batch(str(requests), "-o", str(out), "--base-url", server.base_url, "--provider",
                                     "openai-responses", "--model", "gpt-4o"))
        assert code == 0, err
        sent = {r.json["input"][-1].get("content", r.json["input"][-1].get("type")): r for r in server.requests}
    assert {r.path for r in server.requests} == {"/v1/responses"}
    assert len(server.requests) == 3
    plain = next(r.json for r in server.requests if r.json.get("instructions"))
    assert (plain["instructions"], plain["input"], plain["max_output_tokens"]) == (
        "Be brief.", [{"role": "user", "content": "Hello there"}], 50)
    assert "function_call_output" in sent
    results = {line["custom_id"]: line["response"]["body"] for line in _results(out)}
    assert results["plain"]["object"] == "response" and results["plain"]["status"] == "completed"
    assert results["plain"]["output"][0]["content"][0]["text"] == "You said: Hello there"
    assert results["call"]["output"][0]["type"] == "function_call"
    assert results["call"]["output"][0]["name"] == "get_weather"
    assert results["answer"]["output"][0]["content"][0]["text"] == "The tool said: sunny"
    assert results["plain"]["usage"]["input_tokens"] > 0


def test_responses_lines_with_a_chat_client_are_refused_in_one_line(tmp_path: Path) -> None:
    requests, out = _responses_lines(tmp_path / "in.jsonl"), tmp_path / "out.jsonl"
    with FakeServer() as server:
        code, _, err = finish(_batch(str(requests), "-o", str(out), "--base-url", server.base_url,
                                     "--model", "gpt-4o"))
        assert server.requests == []
    assert code == 2
    assert "line 1: url /v1/responses is not served by this client (--provider openai-responses" in err
    assert err.count("line ") == 1


def _mixed(path: Path) -> Path:
    path.write_text(_line("chat", "/v1/chat/completions", {"model": "gpt-4o",
                                                            "messages": [{"role": "user", "content": "Hi"}]})
                    + _line("resp", "/v1/responses", {"model": "gpt-4o", "input": "Hi"}))
    return path


def test_a_file_mixing_both_is_refused_unless_a_router_serves_both(tmp_path: Path) -> None:
    requests, out = _mixed(tmp_path / "in.jsonl"), tmp_path / "out.jsonl"
    with FakeServer() as server:
        code, _, err = finish(_batch(str(requests), "-o", str(out), "--base-url", server.base_url, "--provider",
                                     "openai-responses", "--model", "gpt-4o"))
        assert code == 2 and server.requests == []
        assert "line 1: the file mixes /v1/chat/completions and /v1/responses lines" in err
        chat = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key="sk-test")
        responses = OpenAIResponsesClient("gpt-4o", base_url=server.base_url, api_key="sk-test")
        config = tmp_path / "router.json"
        config.write_text(Router([Deployment(chat, "chat"), Deployment(responses, "responses")])
                          .dump_component().model_dump_json())
        code, _, err = finish(_batch(str(requests), "-o", str(out), "--config", str(config)))
        assert code == 0, err
    bodies = {line["custom_id"]: line["response"]["body"] for line in _results(out)}
    assert bodies["chat"]["object"] == "chat.completion" and bodies["resp"]["object"] == "response"


def test_dry_run_bounds_replies_by_max_output_tokens(tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    requests.write_text("".join(_line(f"r{i}", "/v1/responses", {"input": "Hi", "max_output_tokens": 50})
                                for i in range(2)))
    with FakeServer() as server:
        code, stdout, err = finish(_batch(str(requests), "--dry-run", "--base-url", server.base_url, "--provider",
                                          "openai-responses", "--model", "gpt-4o"))
        assert server.requests == []
    assert code == 0, err
    assert "2 requests" in stdout and "replies at most 100 by max_tokens" in stdout


def test_a_router_serving_both_sends_each_line_to_a_deployment_of_its_api(tmp_path: Path) -> None:
    requests, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    requests.write_text(_line("chat", "/v1/chat/completions", {"model": "gpt-4o", "max_tokens": 30,
                                                                "messages": [{"role": "user", "content": "Hi"}]})
                        + _line("resp", "/v1/responses", {"model": "gpt-4o", "input": "Hello",
                                                          "max_output_tokens": 40}))
    with FakeServer() as server:
        chat = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key="sk-test")
        responses = OpenAIResponsesClient("gpt-4o", base_url=server.base_url, api_key="sk-test")
        config = tmp_path / "router.json"
        config.write_text(Router([Deployment(chat, "chat"), Deployment(responses, "responses")])
                          .dump_component().model_dump_json())
        code, _, err = finish(_batch(str(requests), "-o", str(out), "--config", str(config)))
        assert code == 0, err
        sent = {r.path: r.json for r in server.requests}
    assert len(server.requests) == 2
    assert sent["/v1/chat/completions"]["max_tokens"] == 30
    assert (sent["/v1/responses"]["input"], sent["/v1/responses"]["max_output_tokens"]) == (
        [{"role": "user", "content": "Hello"}], 40)
    bodies = {line["custom_id"]: line["response"]["body"] for line in _results(out)}
    assert bodies["resp"]["output"][0]["content"][0]["text"] == "You said: Hello"
