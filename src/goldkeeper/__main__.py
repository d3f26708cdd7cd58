"""The ``goldkeeper`` console script and ``python -m goldkeeper``.

It imports the command line itself so that a Ctrl-C while those imports run (the first tenth of a second)
ends like a Ctrl-C anywhere else, "interrupted" and exit 130, not a Python traceback: the console script's
own call of :func:`goldkeeper.cli.main` could not catch what happens before that function exists.
"""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from goldkeeper.cli import main as cli_main  # noqa: PLC0415 - the point: interrupted imports are caught
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
    cli_main()


if __name__ == "__main__":
    main()
