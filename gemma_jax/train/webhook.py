"""Tell another service that a run ended: one JSON POST to train.webhook_url."""

from __future__ import annotations

from gemma_jax.runs.run_store import RunStore
from gemma_jax.runs.schema import Status

TIMEOUT_S = 5.0


def run_end_payload(store: RunStore) -> dict:
    """{run_id, state, step, error, best_eval_loss, run_dir} from the run's final status.json."""
    status = store.read_status()
    return {
        "run_id": store.run_id,
        "state": status.get(Status.STATE),
        "step": status.get(Status.STEP),
        "error": status.get(Status.ERROR),
        "best_eval_loss": status.get(Status.BEST_EVAL_LOSS),
        "run_dir": str(store.path.resolve()),
    }


def notify_run_end(url: str, store: RunStore) -> bool:
    """POST the run's end to `url`; a failure is logged to log.txt, never raised. True when delivered."""
    import requests

    try:
        # No redirects: a checked public URL must not bounce the POST to an internal address.
        response = requests.post(url, json=run_end_payload(store), timeout=TIMEOUT_S, allow_redirects=False)
        response.raise_for_status()
    except Exception as error:  # noqa: BLE001  (a notification must never fail the run)
        store.log(f"webhook {url} failed: {type(error).__name__}: {error}", level="WARNING")
        return False
    store.log(f"webhook {url} notified (HTTP {response.status_code})")
    return True
