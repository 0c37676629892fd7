"""The sans-I/O newline-delimited JSON decoder, fed at every byte split."""

from __future__ import annotations

import pytest

from modelport._ndjson import NDJSONDecoder

BODY = '{"message": {"content": "Hé"}, "done": false}\r\n\n{"message": {"content": "llo ✓"}}\n{"done": true}\n'


def _decode(pieces: list[bytes]) -> list[bytes]:
    decoder = NDJSONDecoder()
    lines = [event.data for piece in pieces for event in decoder.feed(piece)]
    assert decoder.unterminated() == b""
    return lines


EXPECTED = [b'{"message": {"content": "H\xc3\xa9"}, "done": false}', '{"message": {"content": "llo ✓"}}'.encode(),
            b'{"done": true}']


def test_whole_body_gives_one_event_per_line_and_skips_blank_lines() -> None:
    assert _decode([BODY.encode()]) == EXPECTED


def test_every_two_way_split_gives_the_same_lines() -> None:
    data = BODY.encode()
    for cut in range(len(data) + 1):
        assert _decode([data[:cut], data[cut:]]) == EXPECTED, cut


def test_one_byte_at_a_time() -> None:
    data = BODY.encode()
    assert _decode([data[i:i + 1] for i in range(len(data))]) == EXPECTED


def test_a_partial_last_line_is_kept_and_flushed_at_the_end() -> None:
    decoder = NDJSONDecoder()
    assert [e.data for e in decoder.feed(b'{"a": 1}\n{"done": tr')] == [b'{"a": 1}']
    assert decoder.unterminated() == b'{"done": tr'
    assert decoder.feed(b"ue}") == []
    assert [e.data for e in decoder.flush()] == [b'{"done": true}']
    assert decoder.unterminated() == b"" and decoder.flush() == []


def test_max_response_bytes_a_line_over_the_limit_raises_however_it_is_split() -> None:
    from modelport import ResponseTooLargeError

    fits = b'{"a": "' + b"x" * 900 + b'"}\n'
    assert [len(e.data) for e in NDJSONDecoder(1000).feed(fits * 2)] == [len(fits) - 1] * 2
    body = fits + b'{"a": "' + b"y" * 1200 + b'"}\n'
    splits = [[body[:cut], body[cut:]] for cut in range(0, len(body), 7)]
    for pieces in [*splits, [body[i : i + 1] for i in range(len(body))]]:
        decoder = NDJSONDecoder(1000)
        with pytest.raises(ResponseTooLargeError, match="max_response_bytes"):
            for piece in pieces:
                decoder.feed(piece)
