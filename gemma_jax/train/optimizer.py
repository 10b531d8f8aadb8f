"""optax optimizer and learning-rate schedule from the config.

The optimizer's state carries two training controls next to the optax state:
`lr_scale`, a factor on the schedule that a running job may change between steps
(the `set_lr` control) without recompiling the step, and `step`, the number of
updates applied, which keys per-step randomness such as LoRA dropout. Both are
checkpointed with the optimizer state, so a resumed run continues with them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from gemma_jax.config.job_config import OptimizerConfig, ScheduleConfig


def make_schedule(cfg: ScheduleConfig, peak_lr: float, total_steps: int) -> optax.Schedule:
    """Warmup (linear from 0) then constant, linear or cosine decay to min_lr_ratio × peak."""
    warmup = min(cfg.warmup_steps, max(total_steps - 1, 0))
    decay_steps = max(total_steps - warmup, 1)
    floor = peak_lr * cfg.min_lr_ratio
    if cfg.name == "constant":
        main = optax.constant_schedule(peak_lr)
    elif cfg.name == "linear":
        main = optax.linear_schedule(peak_lr, floor, decay_steps)
    elif cfg.name == "cosine":
        main = optax.cosine_decay_schedule(peak_lr, decay_steps, alpha=cfg.min_lr_ratio)
    else:
        raise ValueError(f"unknown schedule '{cfg.name}'")
    if not warmup:
        return main
    return optax.join_schedules([optax.linear_schedule(0.0, peak_lr, warmup), main], [warmup])


def _decay_mask(params):
    """Weight decay on matrices only, never on norm scales."""
    return jax.tree_util.tree_map(lambda p: p.ndim >= 2, params)


class ControlledState(NamedTuple):
    """The optax state of the configured optimizer plus the training controls."""

    step: jax.Array  # int32 scalar: updates applied so far
    lr_scale: jax.Array  # f32 scalar: the learning rate is lr_scale × schedule(count)
    inner: optax.OptState


def with_lr_scale(opt_state: ControlledState, scale: float) -> ControlledState:
    """`opt_state` with a new learning-rate factor, placed like the old one (no recompilation)."""
    old = opt_state.lr_scale
    return opt_state._replace(lr_scale=jax.device_put(jnp.asarray(scale, old.dtype), old.sharding))


def controlled(build: Callable[[optax.Schedule], optax.GradientTransformation], schedule: optax.Schedule):
    """`build(schedule)` with its learning rate multiplied by the factor held in the state.

    The optimizer is rebuilt inside every update with `scale × schedule`, so the factor
    scales exactly what the schedule scales (e.g. not Adafactor's decoupled weight decay)
    and the optax state keeps the structure `build(schedule).init` gives it.
    """
    base = build(schedule)

    def init(params):
        return ControlledState(jnp.zeros((), jnp.int32), jnp.ones((), jnp.float32), base.init(params))

    def update(updates, state, params=None):
        scaled = build(lambda count: schedule(count) * state.lr_scale)
        updates, inner = scaled.update(updates, state.inner, params)
        return updates, ControlledState(state.step + 1, state.lr_scale, inner)

    return optax.GradientTransformation(init, update)


def make_optimizer(cfg: OptimizerConfig, schedule: optax.Schedule) -> optax.GradientTransformation:
    """The configured optimizer, its learning rate adjustable through `ControlledState.lr_scale`."""
    return controlled(lambda lr: _configured(cfg, lr), schedule)


def _configured(cfg: OptimizerConfig, schedule: optax.Schedule) -> optax.GradientTransformation:
    if cfg.name == "adamw":
        core = optax.adamw(schedule, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay, mask=_decay_mask)
    elif cfg.name == "lion":
        core = optax.lion(schedule, b1=cfg.b1, b2=cfg.b2, weight_decay=cfg.weight_decay, mask=_decay_mask)
    elif cfg.name == "adafactor":
        core = optax.adafactor(schedule, weight_decay_rate=cfg.weight_decay or None, weight_decay_mask=_decay_mask)
    elif cfg.name == "sgd":
        core = optax.chain(
            optax.add_decayed_weights(cfg.weight_decay, _decay_mask), optax.sgd(schedule, momentum=cfg.momentum or None)
        )
    else:
        raise ValueError(f"unknown optimizer '{cfg.name}'")
    if cfg.max_grad_norm:
        return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), core)
    return core
