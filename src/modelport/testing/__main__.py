"""``python -m modelport.testing [--host H] [--port P]``: run the fake server until interrupted."""

import argparse

from ._server import serve_forever

parser = argparse.ArgumentParser(
    prog="python -m modelport.testing",
    description="Run the built-in fake server until interrupted (Ctrl-C): an OpenAI-compatible server, and the "
    "other providers' wires, answering offline. Point a client's base_url at the URL it prints, with any key.",
)
parser.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
parser.add_argument("--port", type=int, default=8765, help="the port (default 8765)")
args = parser.parse_args()
serve_forever(args.host, args.port)
