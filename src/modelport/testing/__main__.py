"""``python -m modelport.testing [--host H] [--port P]``: run the fake server until interrupted."""

import argparse

from ._server import serve_forever

parser = argparse.ArgumentParser(prog="python -m modelport.testing", description=__doc__)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=8765)
args = parser.parse_args()
serve_forever(args.host, args.port)
