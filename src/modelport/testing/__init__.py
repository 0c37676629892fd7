"""Test helpers: a fake OpenAI-compatible server, scripted per test, that runs offline on loopback.

    from modelport.testing import FakeServer, Reply, chunk

    with FakeServer() as server:
        server.add(Reply.sse([chunk({"content": "Hel"}), chunk({"content": "lo"}), chunk(finish_reason="stop")]))
        client = OpenAIChatCompletionClient(model="gpt-4o", base_url=server.base_url, api_key="test")
        ...
        assert server.requests[0].json["stream"] is True

modelport's own test suite uses exactly this server.
"""

from ._default import chunk, completion, default_reply, instance_of, usage
from ._server import FakeServer, RecordedRequest, Reply

__all__ = ["FakeServer", "RecordedRequest", "Reply", "chunk", "completion", "default_reply", "instance_of", "usage"]
