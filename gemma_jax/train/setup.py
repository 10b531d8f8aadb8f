"""Everything a training process needs, built once from a config and a model."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding

from gemma_jax.config.job_config import JobConfig
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.lora import apply_lora
from gemma_jax.models.quantization import quantize_base
from gemma_jax.parallel.distributed import local_rows
from gemma_jax.parallel.mesh import batch_axis_size, make_mesh, replicated
from gemma_jax.parallel.sharding_rules import model_shardings
from gemma_jax.train.dpo_step import build_dpo_step_functions
from gemma_jax.train.optimizer import make_optimizer, make_schedule
from gemma_jax.train.packed_decoder import PackedDecoder
from gemma_jax.train.step import StepFunctions, batch_shardings, build_step_functions

LORA_KINDS = ("lora", "qlora", "dpo")  # methods that train LoRA adapters on a frozen base


@dataclass
class TrainState:
    trainable: list  # f32 master copies, sharded
    frozen: list  # in the model's dtype (QLoRA: int8/int4 kernels and their scales), sharded
    opt_state: optax.OptState


@dataclass
class TrainingSetup:
    config: JobConfig
    model: LoadedModel
    decoder: PackedDecoder
    mesh: Mesh
    schedule: optax.Schedule
    optimizer: optax.GradientTransformation
    trainable_shardings: list
    frozen_shardings: list
    opt_state_shardings: object
    steps: StepFunctions
    microbatches: int
    total_steps: int

    @property
    def loss_groups(self) -> int:
        """Row groups per global batch: one per batch shard per microbatch."""
        return self.microbatches * batch_axis_size(self.mesh)

    def initial_state(self) -> TrainState:
        trainable = [
            jax.device_put(jnp.asarray(v.value, jnp.float32), s)
            for v, s in zip(self.decoder.trainable_variables, self.trainable_shardings)
        ]
        frozen = [
            jax.device_put(v.value, s) for v, s in zip(self.decoder.non_trainable_variables, self.frozen_shardings)
        ]
        opt_state = jax.jit(self.optimizer.init, out_shardings=self.opt_state_shardings)(trainable)
        return TrainState(trainable, frozen, opt_state)

    def device_batch(self, host_batch: dict) -> dict:
        """Host numpy batch → global arrays [microbatches, rows, ...] on the mesh.

        Every process builds the same global batch (the iterator is deterministic) and
        hands JAX only the rows its own devices hold.
        """
        shardings = batch_shardings(self.mesh, self.steps.keys)
        out = {}
        for key in self.steps.keys:
            array = np.asarray(host_batch[key])
            array = array.reshape(self.microbatches, array.shape[0] // self.microbatches, *array.shape[1:])
            rows = local_rows(shardings[key], array.shape)
            out[key] = jax.make_array_from_process_local_data(shardings[key], array[:, rows], array.shape)
        return out

    def write_back(self, trainable) -> None:
        """Copy trained weights into the Keras model (for generation and export)."""
        if jax.process_count() > 1:  # arrays spread over hosts: every process gathers the whole value
            trainable = multihost_utils.process_allgather(trainable, tiled=True)
        for variable, value in zip(self.decoder.trainable_variables, trainable):
            variable.assign(np.asarray(value).astype(variable.dtype))


def build_training(
    config: JobConfig, model: LoadedModel, total_steps: int, devices=None, remat: bool | None = None
) -> TrainingSetup:
    """remat: the trainer's choice for `model.remat: auto` (memory_check.choose_remat); else the config's."""
    method = config.method
    if method.base_quantization is not None:  # QLoRA: int8/int4 frozen projections, f32 LoRA on top
        quantize_base(model.backbone, method.base_quantization)
    if method.kind in LORA_KINDS:
        apply_lora(model.backbone, method.lora_rank, method.lora_alpha, method.lora_targets, seed=config.train.seed)
    dropout = method.lora_dropout if method.kind in LORA_KINDS else 0.0
    remat = bool(config.model.remat) if remat is None else remat
    decoder = PackedDecoder(model.backbone, remat=remat, lora_dropout=dropout)
    mesh = make_mesh(config.mesh.data, config.mesh.fsdp, config.mesh.model, devices=devices)
    schedule = make_schedule(config.schedule, config.optimizer.learning_rate, total_steps)
    optimizer = make_optimizer(config.optimizer, schedule)
    trainable_shardings, frozen_shardings = model_shardings(decoder, mesh)  # every rule must match a variable
    abstract = [jax.ShapeDtypeStruct(tuple(v.shape), jnp.float32) for v in decoder.trainable_variables]
    opt_state_shardings = _opt_state_shardings(optimizer, abstract, trainable_shardings, mesh)
    build_steps = build_dpo_step_functions if method.kind == "dpo" else build_step_functions
    extra = {"beta": method.dpo_beta} if method.kind == "dpo" else {}
    steps = build_steps(
        decoder,
        optimizer,
        mesh=mesh,
        trainable_shardings=trainable_shardings,
        frozen_shardings=frozen_shardings,
        opt_state_shardings=opt_state_shardings,
        soft_cap=model.final_logit_soft_cap,
        seed=config.train.seed,
        **extra,
    )
    return TrainingSetup(
        config,
        model,
        decoder,
        mesh,
        schedule,
        optimizer,
        trainable_shardings,
        frozen_shardings,
        opt_state_shardings,
        steps,
        config.train.grad_accum_steps,
        total_steps,
    )


def _opt_state_shardings(optimizer, abstract_params, param_shardings, mesh: Mesh):
    """Optimizer moments shard like their parameters (XLA propagates that); scalars replicate."""
    init = jax.jit(optimizer.init, in_shardings=(param_shardings,))
    propagated = init.lower(abstract_params).compile().output_shardings
    return jax.tree_util.tree_map(
        lambda s: s if isinstance(s, NamedSharding) and s.mesh == mesh else replicated(mesh), propagated
    )
