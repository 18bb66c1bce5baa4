"""Error types that map to a clean, user-facing exit."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input the caller can fix (manifest, paths, flags); printed without a traceback."""


class CheckpointUnreadableError(UsageError):
    """A checkpoint that cannot be loaded (truncated, corrupt, not ours); ``reason`` says why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"checkpoint {path} could not be loaded ({reason}); "
            "delete it to resume from an earlier one"
        )
        self.path = path
        self.reason = reason


class DivergedError(Exception):
    """The loss (or the weights) stopped being finite: a retry from that state diverges again."""

    def __init__(
        self, step: int, loss: float, lr: float, base_lr: float, batch_size: int, weights: bool
    ) -> None:
        what = "the weights stopped being finite" if weights else f"the loss became {loss}"
        super().__init__(f"{what} at step {step} (learning rate {lr:.4g})")
        self.what = what
        self.step = step
        self.loss = loss
        self.lr = lr
        self.base_lr = base_lr
        self.batch_size = batch_size


class CancelledError(BaseException):
    """Raised from the SIGTERM handler so the training loop unwinds promptly.

    A BaseException (like KeyboardInterrupt) so that ``except Exception`` blocks in the
    code it interrupts cannot swallow it.
    """


EXIT_USAGE = 2
# The loss diverged: a retry from the same state would too (activities/train/trainer-process.ts).
EXIT_DIVERGED = 3
EXIT_CANCELLED = 143  # 128 + SIGTERM, what a shell reports for a process killed by SIGTERM
