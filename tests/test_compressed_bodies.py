"""Compressed response bodies: decompressed by modelport under max_response_bytes on every aiohttp version it
supports (the floor tier runs this file on the oldest), and TLS certificates verified there too."""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import ssl
import subprocess
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import modelport
from modelport.testing import FakeServer, Reply, chunk, completion

from .conftest import API_KEY

MiB = 1 << 20


@functools.cache
def gzip_of_zeros(size: int) -> bytes:
    """A gzip body that decompresses to ``size`` zero bytes, made without holding them."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MiB)
    parts = [packer.compress(block) for _ in range(size // MiB)]
    parts.append(packer.flush())
    return b"".join(parts)


def compressed_reply(body: bytes, encoding: str, content_type: str, *, chunked: bool = False) -> Reply:
    segments = [(0.0, body[i : i + 16384]) for i in range(0, len(body), 16384)] if chunked else [(0.0, body)]
    return Reply(
        headers={"content-type": content_type, "content-encoding": encoding}, segments=segments, chunked=chunked
    )


def sse_body(*events: dict[str, Any]) -> bytes:
    return b"".join(f"data: {json.dumps(event)}\n\n".encode() for event in events) + b"data: [DONE]\n\n"


async def test_gzip_json_body_is_decompressed(server: FakeServer, client: Any) -> None:
    server.add(compressed_reply(gzip.compress(json.dumps(completion("hello")).encode()), "gzip", "application/json"))
    result = await client.create([modelport.UserMessage(content="hi", source="user")])
    assert result.content == "hello"
    assert server.requests[-1].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("raw", [False, True], ids=["zlib-deflate", "raw-deflate"])
async def test_deflate_json_body_is_decompressed(server: FakeServer, client: Any, raw: bool) -> None:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
    body = packer.compress(json.dumps(completion("deflated")).encode()) + packer.flush()
    server.add(compressed_reply(body, "deflate", "application/json"))
    result = await client.create([modelport.UserMessage(content="hi", source="user")])
    assert result.content == "deflated"


async def test_gzip_event_stream_is_decompressed(server: FakeServer, client: Any) -> None:
    events = [chunk({"role": "assistant", "content": ""})] + [chunk({"content": f"w{i} "}) for i in range(200)]
    events.append(chunk({}, finish_reason="stop"))
    body = gzip.compress(sse_body(*events))
    server.add(compressed_reply(body, "gzip", "text/event-stream", chunked=True))
    items = [item async for item in client.create_stream([modelport.UserMessage(content="hi", source="user")])]
    assert items[-1].content == "".join(f"w{i} " for i in range(200))


async def test_gzip_bomb_json_body_is_refused_without_being_decompressed_whole(
    server: FakeServer, make_client: Any
) -> None:
    """64 MiB of zeros in a 64 KiB gzip body: refused at max_response_bytes (1 MiB), holding at most a few MiB
    (aiohttp before 3.13.3, left to decompress, expanded each piece it received whole: tens of MiB at a time)."""
    server.add(compressed_reply(gzip_of_zeros(64 * MiB), "gzip", "application/json"))
    client = make_client(max_response_bytes=MiB, max_retries=0)
    tracemalloc.start()
    try:
        with pytest.raises(modelport.ResponseTooLargeError):
            await client.create([modelport.UserMessage(content="hi", source="user")])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB while refusing a gzip bomb"


async def test_gzip_bomb_event_stream_is_refused_without_being_decompressed_whole(
    server: FakeServer, make_client: Any
) -> None:
    server.add(compressed_reply(gzip_of_zeros(64 * MiB), "gzip", "text/event-stream", chunked=True))
    client = make_client(max_response_bytes=MiB, max_retries=0)
    tracemalloc.start()
    try:
        with pytest.raises(modelport.ResponseTooLargeError):
            async for _ in client.create_stream([modelport.UserMessage(content="hi", source="user")]):
                pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * MiB, f"peak {peak / MiB:.1f} MiB while refusing a gzip bomb"


async def test_encoding_not_asked_for_is_refused(server: FakeServer, client: Any) -> None:
    server.add(compressed_reply(b"\x8b\x02\x80hello\x03", "br", "application/json"))
    with pytest.raises(modelport.ResponseValidationError, match="'br'"):
        await client.create([modelport.UserMessage(content="hi", source="user")])


async def test_gzip_error_body_is_read_as_its_status_error(server: FakeServer, make_client: Any) -> None:
    error = {"error": {"message": "no such model", "type": "invalid_request_error", "code": "model_not_found"}}
    server.add(
        Reply(
            status=404,
            headers={"content-type": "application/json", "content-encoding": "gzip"},
            segments=[(0.0, gzip.compress(json.dumps(error).encode()))],
        )
    )
    with pytest.raises(modelport.NotFoundError, match="no such model"):
        await make_client(max_retries=0).create([modelport.UserMessage(content="hi", source="user")])


# --- TLS: a certificate nobody vouches for is refused ------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
async def tls_front(server: FakeServer, self_signed: tuple[Path, Path]) -> AsyncIterator[str]:
    """A TLS listener with a self-signed certificate, passing each connection on to the fake server."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed)
    target = server.base_url.split("//", 1)[1].split("/", 1)[0]
    host, port = target.rsplit(":", 1)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    listener = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    front_port = listener.sockets[0].getsockname()[1]
    yield f"https://127.0.0.1:{front_port}/v1"
    listener.close()


async def test_self_signed_certificate_is_refused(tls_front: str) -> None:
    """aiohttp before 3.9 took ``ssl=True`` as "encrypt, do not verify": the transport never passes it."""
    client = modelport.OpenAIChatCompletionClient(
        model="gpt-4o", base_url=tls_front, api_key=API_KEY, retry_policy=modelport.RetryPolicy(max_retries=0)
    )
    try:
        with pytest.raises(modelport.APIConnectionError, match=r"(?i)certificate"):
            await client.create([modelport.UserMessage(content="hi", source="user")])
    finally:
        await client.close()


async def test_verify_ssl_false_reaches_a_self_signed_server(tls_front: str) -> None:
    client = modelport.OpenAIChatCompletionClient(
        model="gpt-4o", base_url=tls_front, api_key=API_KEY, verify_ssl=False
    )
    try:
        result = await client.create([modelport.UserMessage(content="hi", source="user")])
    finally:
        await client.close()
    assert result.content


async def test_gzip_body_through_a_session_of_your_own_is_decompressed_once(server: FakeServer) -> None:
    """A session given by the caller decompresses as it is set up (aiohttp's default: itself); modelport does not
    decompress its bodies a second time."""
    import aiohttp

    events = [chunk({"role": "assistant", "content": "streamed"}), chunk({}, finish_reason="stop")]
    server.add(compressed_reply(gzip.compress(json.dumps(completion("hello")).encode()), "gzip", "application/json"))
    server.add(compressed_reply(gzip.compress(sse_body(*events)), "gzip", "text/event-stream", chunked=True))
    async with aiohttp.ClientSession() as session:
        client = modelport.OpenAIChatCompletionClient(
            model="gpt-4o", base_url=server.base_url, api_key=API_KEY, http_session=session
        )
        assert (await client.create([modelport.UserMessage(content="hi", source="user")])).content == "hello"
        items = [item async for item in client.create_stream([modelport.UserMessage(content="hi", source="user")])]
        assert items[-1].content == "streamed"
        await client.close()
