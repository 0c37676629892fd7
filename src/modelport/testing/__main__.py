"""``python -m modelport.testing [--host H] [--port P] [--cassette FILE]``: run the fake server until interrupted;
with ``--cassette``, it answers every request from that cassette's recordings instead of its built-in model."""

import argparse

from ._server import serve_forever

parser = argparse.ArgumentParser(
    prog="python -m modelport.testing",
    description="Run the built-in fake server until interrupted (Ctrl-C): an OpenAI-compatible server, and the "
    "other providers' wires, answering offline. Point a client's base_url at the URL it prints, with any key. "
    "With --cassette FILE it answers from that cassette's recordings instead.",
)
parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
parser.add_argument("--port", type=int, default=8765, help="the port (default 8765)")
parser.add_argument("--cassette", metavar="FILE", help="answer from this cassette's recordings (YAML or JSON)")
parser.add_argument("--keep-timing", action="store_true", help="with --cassette: wait as the recording did")
args = parser.parse_args()
if args.cassette:
    from ._cassette_serve import serve_cassette

    serve_cassette(args.host, args.port, args.cassette, keep_timing=args.keep_timing)
else:
    serve_forever(args.host, args.port)
