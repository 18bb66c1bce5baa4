"""Error types that map to a clean, user-facing exit."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input the caller can fix (manifest, paths, flags); printed without a traceback."""


class CancelledError(BaseException):
    """Raised from the SIGTERM handler so the training loop unwinds promptly.

    A BaseException (like KeyboardInterrupt) so that ``except Exception`` blocks in the
    code it interrupts cannot swallow it.
    """


EXIT_USAGE = 2
EXIT_CANCELLED = 143  # 128 + SIGTERM, what a shell reports for a process killed by SIGTERM
