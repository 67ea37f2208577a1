"""Command-line plumbing: user errors become one line on stderr and a non-zero exit."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from trainkit.errors import TrainkitError

__all__ = ["EXIT_INTERRUPTED", "EXIT_USER_ERROR", "run_cli"]

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def run_cli(
    main: Callable[[Sequence[str] | None], int | None], argv: Sequence[str] | None = None, prog: str = ""
) -> int:
    """Call ``main(argv)``; a :class:`TrainkitError` prints ``prog: error: <message>`` and returns 2."""
    label = prog or "error"
    try:
        code = main(argv)
    except TrainkitError as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"{label}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print(f"{label}: interrupted; rerun the same command to resume from the last checkpoint", file=sys.stderr)
        return EXIT_INTERRUPTED
    return int(code or 0)
