"""The sans-I/O AWS event-stream decoder, fed at every byte split; corrupt framing is a typed error, never a crash."""

from __future__ import annotations

import struct
import uuid
import zlib

import pytest

from modelport import ResponseTooLargeError, StreamProtocolError
from modelport._eventstream import EventMessage, EventStreamDecoder
from modelport.testing._bedrock import bedrock_event, bedrock_exception, encode_event_message

MESSAGES = [
    bedrock_event("messageStart", {"role": "assistant"}),
    bedrock_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hé ✓"}}),
    bedrock_exception("throttlingException", "slow down"),
    encode_event_message({":message-type": "event", ":event-type": "empty"}, b""),
]
BODY = b"".join(MESSAGES)


def _decode(pieces: list[bytes]) -> list[EventMessage]:
    decoder = EventStreamDecoder()
    out = [message for piece in pieces for message in decoder.feed(piece)]
    assert decoder.unterminated() == b""
    assert decoder.flush() == []
    return out


EXPECTED = _decode([BODY])


def test_a_whole_body_decodes_into_its_messages() -> None:
    assert [m.event for m in EXPECTED] == ["messageStart", "contentBlockDelta", "throttlingException", "empty"]
    assert [m.message_type for m in EXPECTED] == ["event", "event", "exception", "event"]
    assert EXPECTED[1].payload.decode() == '{"contentBlockIndex":0,"delta":{"text":"Hé ✓"}}'
    assert EXPECTED[3].payload == b""


def test_every_two_way_split_gives_the_same_messages() -> None:
    for cut in range(len(BODY) + 1):
        assert _decode([BODY[:cut], BODY[cut:]]) == EXPECTED, cut


def test_one_byte_at_a_time_gives_the_same_messages() -> None:
    assert _decode([BODY[i : i + 1] for i in range(len(BODY))]) == EXPECTED


def _raw_header(name: str, kind: int, value: bytes) -> bytes:
    return bytes([len(name)]) + name.encode() + bytes([kind]) + value


def test_every_header_type_is_read() -> None:
    ident = uuid.UUID(int=7).bytes
    raw = b"".join(
        (
            _raw_header("t", 0, b""),
            _raw_header("f", 1, b""),
            _raw_header("b", 2, struct.pack(">b", -3)),
            _raw_header("s", 3, struct.pack(">h", -300)),
            _raw_header("i", 4, struct.pack(">i", 70000)),
            _raw_header("l", 5, struct.pack(">q", 2**40)),
            _raw_header("a", 6, struct.pack(">H", 2) + b"\x00\xff"),
            _raw_header("x", 7, struct.pack(">H", 3) + "é!".encode()),
            _raw_header("ts", 8, struct.pack(">q", 1700000000000)),
            _raw_header("u", 9, ident),
        )
    )
    data = encode_event_message({}, b"{}", raw_headers=raw)
    for cut in range(len(data) + 1):
        (message,) = _decode([data[:cut], data[cut:]])
        assert message.headers == {
            "t": True, "f": False, "b": -3, "s": -300, "i": 70000, "l": 2**40, "a": b"\x00\xff", "x": "é!",
            "ts": 1700000000000, "u": ident,
        }


def _corrupt(data: bytes, position: int) -> bytes:
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


@pytest.mark.parametrize("position", [0, 5, 9])
def test_a_prelude_crc_mismatch_is_a_protocol_error(position: int) -> None:
    with pytest.raises(StreamProtocolError, match="prelude's CRC"):
        EventStreamDecoder().feed(_corrupt(MESSAGES[1], position))


def test_a_message_crc_mismatch_is_a_protocol_error_at_every_split() -> None:
    bad = MESSAGES[0] + _corrupt(MESSAGES[1], 20)
    for cut in range(len(bad) + 1):
        decoder = EventStreamDecoder()
        got: list[EventMessage] = []
        with pytest.raises(StreamProtocolError, match="message's CRC"):
            got += decoder.feed(bad[:cut])
            got += decoder.feed(bad[cut:])
            decoder.flush()
        assert got == EXPECTED[: len(got)] and len(got) <= 1


def test_the_messages_before_a_corrupt_one_are_returned_first() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(MESSAGES[0] + MESSAGES[1] + _corrupt(MESSAGES[2], 30)) == EXPECTED[:2]
    with pytest.raises(StreamProtocolError, match="message's CRC"):
        decoder.feed(b"")
    with pytest.raises(StreamProtocolError, match="message's CRC"):
        decoder.flush()


def _prelude(total: int, headers: int) -> bytes:
    head = struct.pack(">II", total, headers)
    return head + struct.pack(">I", zlib.crc32(head))


@pytest.mark.parametrize(
    ("total", "headers"), [(15, 0), (0, 0), (100, 90), (200_000, 150_000), (2**32 - 1, 2**32 - 1)]
)
def test_lengths_that_cannot_hold_a_message_are_a_protocol_error(total: int, headers: int) -> None:
    with pytest.raises(StreamProtocolError, match="corrupt"):
        EventStreamDecoder().feed(_prelude(total, headers))


def test_a_message_longer_than_the_limit_is_refused_at_its_prelude() -> None:
    decoder = EventStreamDecoder(max_event_bytes=1000)
    with pytest.raises(ResponseTooLargeError):
        decoder.feed(_prelude(1001, 0))  # nothing of its body has arrived


def test_an_unknown_header_type_is_a_protocol_error() -> None:
    data = encode_event_message({}, b"{}", raw_headers=_raw_header("z", 10, b"\x00"))
    with pytest.raises(StreamProtocolError, match="type 10"):
        EventStreamDecoder().feed(data)


@pytest.mark.parametrize("raw", [_raw_header("s", 7, struct.pack(">H", 50) + b"abc"), b"\x09abc", b"\x01"])
def test_a_header_cut_short_is_a_protocol_error(raw: bytes) -> None:
    with pytest.raises(StreamProtocolError, match="corrupt"):
        EventStreamDecoder().feed(encode_event_message({}, b"{}", raw_headers=raw))


@pytest.mark.parametrize("cut", range(1, 12))
def test_a_truncated_prelude_is_kept_as_unterminated(cut: int) -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(MESSAGES[0] + MESSAGES[1][:cut]) == EXPECTED[:1]
    assert decoder.flush() == []
    assert decoder.unterminated() == MESSAGES[1][:cut]
