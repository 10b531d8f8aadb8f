"""Stop a run whose eval loss has stopped improving (eval.early_stop_patience / early_stop_min_delta)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class EarlyStopping:
    """Counts evaluations without an improvement larger than `min_delta` over the best so far.

    `best` moves only on such an improvement, so slow drifts smaller than `min_delta` each
    still add up to a stop. Its state travels in the checkpoint's metadata, so a resumed run
    keeps counting where it was.
    """

    patience: int  # 0: never stop
    min_delta: float = 0.0
    best: float | None = None
    evals_without_improvement: int = 0
    stopped: bool = False

    def update(self, eval_loss: float) -> bool:
        """Record one evaluation; True when the run should stop now."""
        if self.best is None or eval_loss < self.best - self.min_delta:
            self.best, self.evals_without_improvement = eval_loss, 0
        else:
            self.evals_without_improvement += 1
        self.stopped = 0 < self.patience <= self.evals_without_improvement
        return self.stopped

    def describe(self) -> str:
        return (
            f"the eval loss did not improve by more than {self.min_delta} on the best ({self.best:.4f}) "
            f"for {self.evals_without_improvement} evaluations (eval.early_stop_patience={self.patience})"
        )

    def state(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("patience", "min_delta")}

    def restore(self, state: dict | None) -> None:
        for key, value in (state or {}).items():
            setattr(self, key, value)
