"""Orbax checkpoints of a run: trainable weights, optimizer state, data position.

Async saves, the newest `keep` plus the best by eval loss, LoRA settings in
every step's metadata, and restore onto whatever mesh the resumed run has
(each array lands on the sharding of the fresh state it replaces). A gs:// directory is
written directly: Orbax's paths through gcsfs, its arrays through tensorstore's GCS driver.
"""

from __future__ import annotations

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy as policies

from gemma_jax.cloud_storage import is_gcs, prepare_orbax_paths
from gemma_jax.config.job_config import CheckpointConfig


def _abstract(tree):
    return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)


class CheckpointStore:
    def __init__(self, directory: str, cfg: CheckpointConfig):
        keep = [policies.LatestN(n=cfg.keep)]
        if cfg.keep_best:
            keep.append(
                # BestN keeps the top of an ascending sort; reversed, the lowest eval loss wins.
                policies.BestN(
                    get_metric_fn=lambda m: m["eval_loss"], reverse=True, n=1, keep_checkpoints_without_metrics=False
                )
            )
        options = ocp.CheckpointManagerOptions(
            preservation_policy=policies.AnyPreservationPolicy(keep),
            enable_async_checkpointing=cfg.async_save,
            create=True,
        )
        self.save_frozen = cfg.save == "full"
        if is_gcs(directory):
            prepare_orbax_paths()
        self.manager = ocp.CheckpointManager(directory, options=options)

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self.manager.all_steps())

    def save(self, step: int, state, data_position: dict, meta: dict, eval_loss: float | None = None) -> None:
        items = {
            "trainable": ocp.args.StandardSave(state.trainable),
            "opt_state": ocp.args.StandardSave(state.opt_state),
            "data": ocp.args.JsonSave(data_position),
            "meta": ocp.args.JsonSave(meta),
        }
        if self.save_frozen:
            items["frozen"] = ocp.args.StandardSave(state.frozen)
        metrics = {"eval_loss": float(eval_loss)} if eval_loss is not None else None
        self.manager.save(step, args=ocp.args.Composite(**items), metrics=metrics, force=True)

    def restore(self, step: int, like):
        """Restore into the structure and shardings of `like` (a fresh TrainState).

        Returns (trainable, opt_state, frozen or None, data_position, meta).
        """
        items = {
            "trainable": ocp.args.StandardRestore(_abstract(like.trainable)),
            "opt_state": ocp.args.StandardRestore(_abstract(like.opt_state)),
            "data": ocp.args.JsonRestore(),
            "meta": ocp.args.JsonRestore(),
        }
        has_frozen = "frozen" in self.item_names(step)
        if has_frozen:
            items["frozen"] = ocp.args.StandardRestore(_abstract(like.frozen))
        restored = self.manager.restore(step, args=ocp.args.Composite(**items))
        frozen = restored["frozen"] if has_frozen else None
        return restored["trainable"], restored["opt_state"], frozen, restored["data"], restored["meta"]

    def read_meta(self, step: int) -> dict:
        """Step `step`'s metadata alone (the trainer's _meta: run id, method, LoRA settings), or {} when it
        has none that can be read: nothing else of the step is loaded."""
        if "meta" not in self.item_names(step):
            return {}
        try:
            meta = self.manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        except (ValueError, OSError, KeyError):  # a damaged step: the full restore reports it
            return {}
        return meta if isinstance(meta, dict) else {}

    def item_names(self, step: int) -> list[str]:
        step_dir = self.manager.directory / str(step)
        return [p.name for p in step_dir.iterdir() if p.is_dir()]

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.close()
