"""``python -m modelport.testing --cassette FILE``: the fake server answers from a cassette, so a program in any
language can be tested on the same recording (point its base URL at the server, as at the provider's).

Each request is matched as a :class:`~modelport.testing.Cassette` in mode ``none`` matches it (method, path and
body; the host is not compared), and answered with the recorded status, headers and body, each piece after its
recorded wait when the cassette kept its timing. A request with no recording gets a 404 whose JSON error says how
it differs from the closest recording.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from yarl import URL

from ._cassette import Cassette, CassetteError, CassetteMismatchError
from ._reply import RecordedRequest, Reply

__all__ = ["cassette_replies"]


def cassette_replies(
    path: str | os.PathLike[str], *, keep_timing: bool = False, match_volatile: tuple[str, ...] = ()
) -> Callable[[RecordedRequest], Reply]:
    """The fake server's ``default``: each request answered from the cassette at ``path``."""
    cassette = Cassette(path, mode="none", keep_timing=keep_timing, match_volatile=match_volatile)
    cassette.load()

    def reply(request: RecordedRequest) -> Reply:
        query = [(name, value) for name, values in request.query.items() for value in values]
        url = URL.build(scheme="http", host="cassette", path=request.path, query=query or None)
        body = None if request.method.upper() == "GET" else request.body
        try:
            response = cassette.answer(url, body, request.headers)
        except CassetteMismatchError as exc:
            return Reply.json({"error": {"message": str(exc), "type": "cassette_mismatch"}}, status=404)
        pieces = response.content.pieces()
        return Reply(
            status=response.status,
            headers=dict(response.headers),
            segments=pieces or [(0.0, b"")],
            chunked=len(pieces) > 1,
            reset=response.content.cut is not None,
        )

    return reply


def serve_cassette(host: str, port: int, path: str, *, keep_timing: bool = False) -> None:  # pragma: no cover
    """Serve the cassette at ``path`` until interrupted (``python -m modelport.testing --cassette``)."""
    import contextlib
    import threading

    from ._server import FakeServer

    if not os.path.exists(path):
        raise SystemExit(f"python -m modelport.testing: no cassette at {path}")
    try:
        replies = cassette_replies(path, keep_timing=keep_timing)
    except CassetteError as exc:
        raise SystemExit(f"python -m modelport.testing: {exc}") from None
    server = FakeServer(host, port, default=replies).start()
    print(f"serving the cassette {path} on {server.base_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    server.stop()
