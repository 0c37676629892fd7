"""``python -m modelport``: the ``modelport`` command, for environments where its script is not on the PATH."""

from .cli import main

raise SystemExit(main())
