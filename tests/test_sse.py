"""The SSE decoder, fed at every byte split and line ending (wire-behaviour B3)."""

from __future__ import annotations

import time

import pytest

from modelport._sse import SSEDecoder, SSEEvent

STREAM = (
    ": comment first\n"
    "data: {\"a\": 1}\n\n"
    "event: update\ndata: line one\ndata: line two\nid: 7\n\n"
    ": keep-alive\n\n"
    "data:no-space\n\n"
    "data: caf\u00e9 \u2603 \U0001f600\n\n"
    "event: ping\n\n"
    "data: [DONE]\n\n"
)
EXPECTED = [
    SSEEvent("message", b'{"a": 1}'),
    SSEEvent("update", b"line one\nline two", "7"),
    SSEEvent("message", b"no-space", "7"),
    SSEEvent("message", "caf\u00e9 \u2603 \U0001f600".encode(), "7"),
    SSEEvent("message", b"[DONE]", "7"),
]


def decode(pieces: list[bytes], max_event_bytes: int = 16 << 20) -> list[SSEEvent]:
    decoder = SSEDecoder(max_event_bytes)
    events: list[SSEEvent] = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    assert decoder.unterminated() == b""
    return events


@pytest.mark.parametrize("ending", ["\n", "\r", "\r\n"])
def test_B34_every_split_offset_and_line_ending(ending: str) -> None:
    data = STREAM.replace("\n", ending).encode()
    assert decode([data]) == EXPECTED
    for cut in range(1, len(data)):
        assert decode([data[:cut], data[cut:]]) == EXPECTED, f"split at {cut}"


def test_B34_one_byte_at_a_time_with_mixed_endings() -> None:
    data = STREAM.encode()
    mixed = data.replace(b"\n\n", b"\r\n\r\n", 2).replace(b"\ndata: line two", b"\rdata: line two")
    assert decode([mixed[i : i + 1] for i in range(len(mixed))]) == EXPECTED


def test_B32_comments_are_ignored() -> None:
    assert decode([b": keep-alive\n\n:ping\n\ndata: x\n\n"]) == [SSEEvent("message", b"x")]


def test_B33_named_event_without_data_is_not_dispatched() -> None:
    assert decode([b"event: ping\n\n", b"data: y\n\n"]) == [SSEEvent("message", b"y")]


def test_multibyte_character_split_across_reads() -> None:
    data = "data: \u20ac\u20ac\n\n".encode()
    for cut in range(len(data)):
        assert decode([data[:cut], data[cut:]]) == [SSEEvent("message", "\u20ac\u20ac".encode())]


def test_B40_llamacpp_error_field_becomes_an_error_event() -> None:
    events = decode([b'error: {"code":400,"message":"too long"}\n\n'])
    assert events == [SSEEvent("error", b'{"code":400,"message":"too long"}')]


def test_B39_unterminated_event_is_reported() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"id":"c1","choi') == []
    assert decoder.unterminated() == b'data: {"id":"c1","choi'
    decoder = SSEDecoder()
    assert decoder.feed(b"data: complete line\n") == []
    assert decoder.unterminated() == b"data: complete line"


def test_B42_huge_event_in_many_pieces_is_linear() -> None:
    def run(size: int) -> float:
        payload = b"x" * size
        pieces = [b"data: "] + [payload[i : i + 4096] for i in range(0, size, 4096)] + [b"\n\n"]
        start = time.perf_counter()
        events = decode(pieces, max_event_bytes=64 << 20)  # above the default 16 MiB: the limit is not tested here
        elapsed = time.perf_counter() - start
        assert len(events) == 1 and len(events[0].data) == size
        return elapsed

    small, large = run(2 * 1024 * 1024), run(32 * 1024 * 1024)
    # 16x the data must cost far less than the 256x a quadratic decoder would; allow generous noise.
    assert large < small * 64 + 0.5


def test_B42_many_small_events() -> None:
    body = b"".join(b'data: {"i":%d}\n\n' % i for i in range(100_000))
    events = decode([body[i : i + 65536] for i in range(0, len(body), 65536)])
    assert len(events) == 100_000
    assert events[-1].data == b'{"i":99999}'


def _feed_all(decoder: SSEDecoder, pieces: list[bytes]) -> list[SSEEvent]:
    return [event for piece in pieces for event in decoder.feed(piece)]


@pytest.mark.parametrize("lines", [1, 3])
def test_max_response_bytes_an_event_within_the_limit_passes_however_it_is_split(lines: int) -> None:
    event = b"".join(b"data: " + b"x" * (900 // lines) + b"\n" for _ in range(lines)) + b"\n"
    body = event * 3
    for cut in [*range(0, len(body), 7), len(body)]:
        assert len(_feed_all(SSEDecoder(1000), [body[:cut], body[cut:]])) == 3, cut
    assert len(_feed_all(SSEDecoder(1000), [body[i : i + 1] for i in range(len(body))])) == 3


@pytest.mark.parametrize("lines", [1, 4])
def test_max_response_bytes_an_event_over_the_limit_raises_however_it_is_split(lines: int) -> None:
    from modelport import ResponseTooLargeError

    event = b"".join(b"data: " + b"x" * (1200 // lines) + b"\n" for _ in range(lines)) + b"\n"
    body = b"data: small\n\n" + event
    splits = [[body[:cut], body[cut:]] for cut in range(0, len(body), 7)]
    for pieces in [*splits, [body[i : i + 1] for i in range(len(body))]]:
        with pytest.raises(ResponseTooLargeError, match="max_response_bytes") as caught:
            _feed_all(SSEDecoder(1000), pieces)
        assert caught.value.limit == 1000


@pytest.mark.parametrize("line_ending", [b"\n", b"\r\n"])
def test_max_response_bytes_events_within_the_limit_pass_at_every_pair_of_split_points(line_ending: bytes) -> None:
    # Two events of 115 bytes under a limit of 150, cut into three reads at every pair of points: a read that starts
    # with the blank line ending one event, followed by (part of) the next, must not count the two as one event.
    event = b"event: delta\n" + b"".join(b"data: " + b"x" * 40 + b"\n" for _ in range(2)) + b": ping\n\n"
    body = (event * 2).replace(b"\n", line_ending)
    for i in range(1, len(body)):
        for j in range(i + 1, len(body)):
            assert len(_feed_all(SSEDecoder(150), [body[:i], body[i:j], body[j:]])) == 2, (i, j)
