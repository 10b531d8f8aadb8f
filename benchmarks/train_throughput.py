"""Training throughput: our packed LoRA step against Keras-Hub's own training paths, in one process.

What is compared, and why:

1. **ours**: `build_training`'s jitted step on packed rows (block-diagonal attention per
   segment, output head at loss positions only, chunked cross-entropy) over batches from
   `build_datasets` on the packaged example set. tokens/s counts non-padding tokens; MFU is
   `StepMeter`'s model FLOPs against the measured CPU matmul peak.
2. **keras_fit**: a separate model instance of the same shape, seed and LoRA, wrapped as
   Keras-Hub's `Gemma3CausalLM(preprocessor=None)` and trained with `compile()` + `fit()`
   (AdamW, `SparseCategoricalCrossentropy(from_logits=True)`, no metrics, `jit_compile=True`)
   on exactly the packed batches ours saw, with `sample_weight` = our loss mask. This isolates
   the step: same data, same loss positions, only the execution differs (Keras computes the full
   [batch, seq, vocab] logits and a causal mask across the packed rows).
3. **guide**: the Keras-Hub LoRA-guide pipeline: one chat-formatted example per row, padded to
   `sequence_length` by the CausalLM preprocessor, loss on every non-padding token. Its useful
   throughput is the response tokens (what our loss mask covers for the same examples) per
   second; ours is our step's loss tokens per second. This measures the whole recipe (packing +
   response-only loss + step) against the usual one.

4. **peft**: Hugging Face transformers + PEFT LoRA (r8, q/v, AdamW) on the same shape, dtype and
   packed rows, loss on every position (`peft_peer.py`); on CUDA when torch sees a GPU.

Targets (from the issue, this 2-core CPU): ratio_vs_keras_fit >= 1.3, mfu >= 0.7,
useful_ratio_vs_guide >= 3. MFU is against the peak of the dtype the step computes in; both the
float32 and the bf16-with-float32-accumulation matmul peaks are printed. The last stdout line is one
JSON object with every figure.

    python benchmarks/train_throughput.py             # real Gemma 3 270M, seq 256, batch 4, 5 steps
    python benchmarks/train_throughput.py --quick     # tiny model, seq 64, 2 steps (smoke test)
    python benchmarks/train_throughput.py --model random:gemma_2b --dtype bfloat16 --batch-size 8 \
        --sequence-length 1024 --skip keras_fit --skip guide      # an accelerator: ours against PEFT
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

os.environ.setdefault("KERAS_BACKEND", "jax")  # before Keras is first imported

import jax
import jax.numpy as jnp
import keras
import keras_hub
import numpy as np
from peak_rss import GB, RssSampler
from peft_peer import run_peft

from gemma_jax.config import JobConfig, apply_overrides
from gemma_jax.config.dtypes import resolve_dtype
from gemma_jax.data import build_datasets, data_texts
from gemma_jax.data.chat_template import render_text
from gemma_jax.data.example import Example
from gemma_jax.data.tokenize import tokenize_example
from gemma_jax.models.loaded_model import LoadedModel
from gemma_jax.models.loading import load_model
from gemma_jax.models.lora import apply_lora
from gemma_jax.runs.schema import Metric
from gemma_jax.train.flops import device_peak_tflops, measure_matmul_peak, step_flops
from gemma_jax.train.host_memory import release_retained_host_memory, retain_freed_host_memory
from gemma_jax.train.setup import build_training
from gemma_jax.train.step_metrics import StepMeter, device_memory

TARGETS = {"ratio_vs_keras_fit": 1.3, "mfu": 0.7, "useful_ratio_vs_guide": 3.0, "ratio_vs_peft": 1.3}
PEERS = ("keras_fit", "guide", "peft")


# ----- measurement helpers ---------------------------------------------------------------------
def max_rss_gb() -> float:
    """Peak RSS of the whole process so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GB


class BatchTimer(keras.callbacks.Callback):
    """Wall time of each fit() batch. Keras hands callbacks host floats, so each end is synchronised."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self._start = 0.0

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        jax.block_until_ready(logs)
        self.times.append(time.perf_counter() - self._start)


@dataclass
class PhaseResult:
    """Timed steps of one contender (compile step excluded)."""

    name: str
    step_times: list[float]
    tokens: int  # non-padding tokens in the timed steps
    useful_tokens: int  # loss (response) tokens in the timed steps
    flops: float  # FLOPs attributed to the timed steps (see each phase)
    compile_s: float
    peak_rss_gb: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return float(sum(self.step_times))

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds

    @property
    def useful_tokens_per_s(self) -> float:
        return self.useful_tokens / self.seconds

    @property
    def tflops(self) -> float:
        return self.flops / self.seconds / 1e12


def release_memory() -> None:
    gc.collect()
    jax.clear_caches()
    keras.backend.clear_session()
    gc.collect()


# ----- configuration and data ------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny:gemma3, sequence length 64, 2 steps")
    parser.add_argument("--model", default=None, help="model.source (default gemma3_270m, the real pretrained model)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per contender (default 5)")
    parser.add_argument("--batch-size", type=int, default=4, help="rows per step (default 4)")
    parser.add_argument("--sequence-length", type=int, default=None, help="tokens per row (default 256)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "auto"], help="model.dtype")
    parser.add_argument("--skip", action="append", default=[], choices=PEERS, help="leave out a peer (repeatable)")
    args = parser.parse_args(argv)
    args.model = args.model or ("tiny:gemma3" if args.quick else "gemma3_270m")
    args.dtype = resolve_dtype(args.dtype, jax.default_backend())
    args.steps = args.steps or (2 if args.quick else 5)
    args.sequence_length = args.sequence_length or (64 if args.quick else 256)
    return args


def job_config(args: argparse.Namespace) -> JobConfig:
    """LoRA rank 8 on query/value (the Keras-Hub guide's choice), AdamW at a constant rate, one device."""
    return apply_overrides(
        JobConfig(),
        [
            f"model.source={args.model}",
            f"model.dtype={args.dtype}",
            "method.kind=lora",
            "method.lora_rank=8",
            "method.lora_targets=[query, value]",
            "optimizer.name=adamw",
            "schedule.name=constant",
            "data.train_path=example",
            f"data.sequence_length={args.sequence_length}",
            f"train.batch_size={args.batch_size}",
            f"train.max_steps={args.steps + 1}",
            "mesh.data=1",
            "mesh.fsdp=-1",
            "mesh.model=1",
        ],
    )


def fresh_model(cfg: JobConfig, proto: bytes | None, texts: list[str] | None = None) -> LoadedModel:
    """The same random weights (same seed) each call; the same vocabulary once `proto` is known."""
    source, dtype, seed = cfg.model.source, cfg.model.dtype, cfg.train.seed
    return load_model(source, dtype=dtype, seed=seed, vocab_texts=texts, tokenizer_proto=proto)


def packed_batches(cfg: JobConfig, model: LoadedModel, count: int, loss_groups: int):
    """`count` consecutive packed training batches, and the train examples they come from."""
    data = build_datasets(cfg.data, model.tokenizer, batch_size=cfg.train.batch_size, loss_groups=loss_groups)
    if data.train.steps_per_epoch < count:  # more epochs, so the loss capacity covers them all
        epochs = math.ceil(count / data.train.steps_per_epoch) + 1
        data = build_datasets(
            cfg.data, model.tokenizer, batch_size=cfg.train.batch_size, loss_groups=loss_groups, num_epochs=epochs
        )
    return [next(data.train) for _ in range(count)], data.train_examples, data.stats


def non_padding(batch: dict) -> int:
    return int((np.asarray(batch["segment_ids"]) > 0).sum())


def loss_tokens(batch: dict) -> int:
    return int(np.asarray(batch["loss_valid"]).sum())


def dense_step_flops(backbone, *, rows: int, seq: int, head_positions: int, head_passes: float = 2.0) -> float:
    """FLOPs a dense step really executes: every position through the body, full [S, S] attention
    scores, the output head at `head_positions` run `head_passes` times (forward + activation grad,
    +1 where the loss rematerialises it); LoRA, so the body's backward is ~1x its forward."""
    decoder = SimpleNamespace(backbone=backbone)
    body = step_flops(decoder, tokens=rows * seq, attended_pairs=rows * seq * seq, loss_positions=0, full=False)
    head = 2.0 * backbone.hidden_dim * backbone.vocabulary_size * head_positions * head_passes
    return body + head


# ----- ours ------------------------------------------------------------------------------------
def run_ours(cfg: JobConfig, model: LoadedModel, host_batches: list[dict]) -> tuple[PhaseResult, tuple[float, str]]:
    """Compile on the first batch, then time the rest; each step waits for its result."""
    method = cfg.method
    setup = build_training(cfg, model, total_steps=len(host_batches), devices=jax.devices()[:1])
    meter = StepMeter(setup.decoder, full=method.kind == "full", devices=setup.mesh.size)
    state = setup.initial_state()

    def step(host_batch: dict) -> float:
        start = time.perf_counter()
        trainable, opt_state, metrics = setup.steps.train(
            state.trainable, state.frozen, state.opt_state, setup.device_batch(host_batch)
        )
        jax.block_until_ready((trainable, opt_state, metrics))
        state.trainable, state.opt_state = trainable, opt_state
        return time.perf_counter() - start

    compile_s = step(host_batches[0])
    times, flops, executed = [], 0.0, 0.0
    rows, seq = np.asarray(host_batches[0]["token_ids"]).shape
    for host_batch in host_batches[1:]:
        seconds = step(host_batch)
        measured = meter.measure(host_batch, seconds)
        times.append(seconds)
        flops += measured["tflops_per_device"] * 1e12 * seconds * meter.devices
        head_positions = int(np.asarray(host_batch["loss_index"]).size)  # capacity, valid or not
        executed += dense_step_flops(model.backbone, rows=rows, seq=seq, head_positions=head_positions, head_passes=3)
    timed = host_batches[1:]
    result = PhaseResult(
        "ours",
        times,
        sum(map(non_padding, timed)),
        sum(map(loss_tokens, timed)),
        flops,
        compile_s,
        extra={
            "executed_tflops": executed / sum(times) / 1e12,
            "loss_capacity": int(timed[0]["loss_index"].size),
            "device_peak_memory_gb": device_memory(jax.devices()[:1]).get(Metric.DEVICE_PEAK_MEMORY_GB),
        },
    )
    return result, (meter.peak_tflops, meter.peak_source)


# ----- Keras-Hub compile() + fit() -------------------------------------------------------------
def causal_lm(model: LoadedModel, preprocessor=None):
    cls = keras_hub.models.Gemma3CausalLM if model.family == "gemma3" else keras_hub.models.GemmaCausalLM
    return cls(backbone=model.backbone, preprocessor=preprocessor)


def logits_model(backbone) -> keras.Model:
    """Fallback when the CausalLM cannot be built without a preprocessor: backbone + tied output head."""
    hidden = backbone(backbone.input)
    return keras.Model(backbone.input, backbone.token_embedding(hidden, reverse=True))


def compile_like_guide(lm: keras.Model, cfg: JobConfig) -> None:
    opt = cfg.optimizer
    optimizer = keras.optimizers.AdamW(
        learning_rate=opt.learning_rate,
        weight_decay=opt.weight_decay,
        beta_1=opt.b1,
        beta_2=opt.b2,
        epsilon=opt.eps,
        global_clipnorm=opt.max_grad_norm or None,
    )
    lm.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        weighted_metrics=[],
        jit_compile=True,
    )


def timed_fit(lm: keras.Model, fit_args: Callable[[slice], dict], batch_size: int, steps: int) -> tuple[float, list]:
    """Fit one batch (compile), then `steps` batches; returns (compile seconds, per-batch seconds)."""
    start = time.perf_counter()
    lm.fit(**fit_args(slice(0, batch_size)), batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    compile_s = time.perf_counter() - start
    timer = BatchTimer()
    lm.fit(
        **fit_args(slice(batch_size, batch_size * (steps + 1))),
        batch_size=batch_size,
        epochs=1,
        steps_per_epoch=steps,
        shuffle=False,
        verbose=0,
        callbacks=[timer],
    )
    return compile_s, timer.times


def run_keras_fit(cfg: JobConfig, proto: bytes, host_batches: list[dict]) -> PhaseResult:
    """Keras-Hub's CausalLM trained by fit() on exactly our packed batches and loss positions."""
    model = fresh_model(cfg, proto)
    method = cfg.method
    apply_lora(model.backbone, method.lora_rank, method.lora_alpha, method.lora_targets, seed=cfg.train.seed)

    def stack(key: str) -> np.ndarray:
        return np.concatenate([np.asarray(b[key]) for b in host_batches])

    x = {"token_ids": stack("token_ids"), "padding_mask": (stack("segment_ids") > 0).astype("int32")}
    y, weights = stack("targets"), stack("loss_mask").astype("float32")

    def fit_args(rows: slice) -> dict:
        return {"x": {k: v[rows] for k, v in x.items()}, "y": y[rows], "sample_weight": weights[rows]}

    steps, batch_size = len(host_batches) - 1, cfg.train.batch_size
    path = f"keras_hub.models.{'Gemma3' if model.family == 'gemma3' else 'Gemma'}CausalLM(preprocessor=None)"
    try:
        lm = causal_lm(model)
        compile_like_guide(lm, cfg)
        compile_s, times = timed_fit(lm, fit_args, batch_size, steps)
    except Exception as error:  # noqa: BLE001  (Keras-Hub versions differ; fall back and say so)
        print(f"CausalLM(preprocessor=None) failed ({type(error).__name__}: {error}); using backbone wrapper")
        path = "keras.Model(backbone -> token_embedding(reverse=True))"
        lm = logits_model(model.backbone)
        compile_like_guide(lm, cfg)
        compile_s, times = timed_fit(lm, fit_args, batch_size, steps)
    rows, seq = x["token_ids"].shape[0] // len(host_batches), x["token_ids"].shape[1]
    executed = steps * dense_step_flops(model.backbone, rows=rows, seq=seq, head_positions=rows * seq)
    timed = host_batches[1:]
    return PhaseResult(
        "keras_fit",
        times,
        sum(map(non_padding, timed)),
        sum(map(loss_tokens, timed)),
        executed,
        compile_s,
        extra={"keras_path": path},
    )


# ----- the Keras-Hub LoRA guide's pipeline -----------------------------------------------------
def guide_preprocessor(model: LoadedModel, sequence_length: int):
    if model.family == "gemma3":
        tokenizer = keras_hub.models.Gemma3Tokenizer(proto=model.tokenizer.proto, has_vision_tokens=False)
        return keras_hub.models.Gemma3CausalLMPreprocessor(tokenizer, sequence_length=sequence_length)
    tokenizer = keras_hub.models.GemmaTokenizer(proto=model.tokenizer.proto)
    return keras_hub.models.GemmaCausalLMPreprocessor(tokenizer, sequence_length=sequence_length)


def guide_inputs(model: LoadedModel, texts: list[str]):
    """Whole texts with loss on every token. Gemma3CausalLMPreprocessor only takes prompt/response
    pairs, so the whole text is the "response" (its sample_weight then covers every token + <eos>)."""
    if model.family == "gemma3":
        return {"prompts": [""] * len(texts), "responses": texts}
    return texts


def run_guide(cfg: JobConfig, proto: bytes, examples: list[Example], steps: int) -> PhaseResult:
    """One padded example per row, loss on all tokens, preprocessing inside fit() as the guide does."""
    model = fresh_model(cfg, proto)
    method = cfg.method
    apply_lora(model.backbone, method.lora_rank, method.lora_alpha, method.lora_targets, seed=cfg.train.seed)
    batch_size, seq = cfg.train.batch_size, cfg.data.sequence_length
    needed = batch_size * (steps + 1)
    chosen = [examples[i % len(examples)] for i in range(needed)]
    texts = [render_text(ex) for ex in chosen]
    preprocessor = guide_preprocessor(model, seq)
    lm = causal_lm(model, preprocessor)
    compile_like_guide(lm, cfg)

    def fit_args(rows: slice) -> dict:
        return {"x": guide_inputs(model, texts[rows])}

    compile_s, times = timed_fit(lm, fit_args, batch_size, steps)
    timed = slice(batch_size, needed)
    x, _, _ = keras.utils.unpack_x_y_sample_weight(preprocessor(guide_inputs(model, texts[timed])))
    tokens = int(np.asarray(x["padding_mask"]).sum())
    # Useful = response tokens inside each row's window (targets are tokens 1..seq of bos + text).
    useful = sum(int(tokenize_example(ex, model.tokenizer).loss[1 : seq + 1].sum()) for ex in chosen[timed])
    executed = steps * dense_step_flops(model.backbone, rows=batch_size, seq=seq, head_positions=batch_size * seq)
    return PhaseResult("guide", times, tokens, useful, executed, compile_s)


# ----- report ----------------------------------------------------------------------------------
def phase(name: str, body: Callable[[], PhaseResult]) -> PhaseResult:
    """Run one contender; a matmul probe just before it shows how much CPU the machine had left."""
    probe = measure_matmul_peak(repeats=5)
    print(f"[{time.strftime('%H:%M:%S')}] {name} (matmul probe {probe:.3f} TFLOP/s) ...", flush=True)
    with RssSampler() as rss:
        result = body()
    result.peak_rss_gb = rss.peak_bytes / GB
    result.extra["matmul_probe_tflops"] = probe
    release_memory()
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {result.tokens_per_s:,.0f} tokens/s", flush=True)
    return result


def summary(args, phases: dict[str, PhaseResult], peak: tuple, extra: dict) -> dict:
    peak_tflops, peak_source = peak
    ours = phases["ours"]
    probes = {p.name: p.extra["matmul_probe_tflops"] for p in phases.values()}
    out = {
        "ours_tokens_per_s": ours.tokens_per_s,
        "mfu": ours.tflops / peak_tflops,
        "peak_rss_gb": max_rss_gb(),
        "ours_useful_tokens_per_s": ours.useful_tokens_per_s,
        "dtype": args.dtype,
        "matmul_peak_tflops": peak_tflops,
        "matmul_peak_source": peak_source,
        **extra["peaks"],
        "matmul_peak_now_tflops": probes["ours"],
        "mfu_vs_peak_now": ours.tflops / probes["ours"],
        "matmul_probe_tflops_by_phase": probes,
        "ours_tflops": ours.tflops,
        "ours_executed_tflops": ours.extra["executed_tflops"],
        "phase_peak_rss_gb": {p.name: p.peak_rss_gb for p in phases.values()},
        "compile_s": {p.name: p.compile_s for p in phases.values()},
        "step_times_s": {p.name: p.step_times for p in phases.values()},
        "steps": args.steps,
        "batch_size": args.batch_size,
        "sequence_length": args.sequence_length,
        "model": args.model,
        "loss_capacity": ours.extra["loss_capacity"],
        "data": extra["data"],
        "host_memory_retained_for_ours": extra["host_memory_retained_for_ours"],
        "devices_seen": jax.device_count(),
        "platform": jax.default_backend(),
        "quick": args.quick,
    }
    if "keras_fit" in phases:
        keras_fit = phases["keras_fit"]
        out["keras_fit_tokens_per_s"] = keras_fit.tokens_per_s
        out["ratio_vs_keras_fit"] = ours.tokens_per_s / keras_fit.tokens_per_s
        out["keras_fit_useful_tokens_per_s"] = keras_fit.useful_tokens_per_s
        # Same batches, so the ratio of median step times; less swayed by a neighbour's load spikes.
        out["ratio_vs_keras_fit_median_step"] = float(np.median(keras_fit.step_times) / np.median(ours.step_times))
        out["keras_fit_tflops"] = keras_fit.tflops
        out["keras_path"] = keras_fit.extra["keras_path"]
    if "guide" in phases:
        guide = phases["guide"]
        out["useful_ratio_vs_guide"] = ours.useful_tokens_per_s / guide.useful_tokens_per_s
        out["guide_useful_tokens_per_s"] = guide.useful_tokens_per_s
        out["guide_tokens_per_s"] = guide.tokens_per_s
        out["guide_tflops"] = guide.tflops
    if "peft" in phases:
        peft = phases["peft"]
        out["peft_tokens_per_s"] = peft.tokens_per_s
        out["ratio_vs_peft"] = ours.tokens_per_s / peft.tokens_per_s
        out["peft"] = peft.extra
        out["ours_device_peak_memory_gb"] = ours.extra.get("device_peak_memory_gb")
        if peft.extra.get("device_peak_memory_gb") and out["ours_device_peak_memory_gb"]:
            out["memory_ratio_vs_peft"] = out["ours_device_peak_memory_gb"] / peft.extra["device_peak_memory_gb"]
    out["targets_met"] = {key: out[key] >= target for key, target in TARGETS.items() if key in out}
    return out


def print_table(result: dict, phases: list[PhaseResult]) -> None:
    print()
    print(f"{'':10} {'tokens/s':>10} {'useful/s':>10} {'TFLOP/s':>8} {'step s':>8} {'compile s':>9} {'peak RSS':>9}")
    for p in phases:
        print(
            f"{p.name:10} {p.tokens_per_s:10,.1f} {p.useful_tokens_per_s:10,.1f} {p.tflops:8.4f} "
            f"{p.seconds / len(p.step_times):8.2f} {p.compile_s:9.1f} {p.peak_rss_gb:8.2f}G"
        )
    print("(TFLOP/s: ours = model FLOPs as StepMeter counts them; keras_fit/guide = the dense work they execute)")
    print(f"ours executed (dense estimate): {result['ours_executed_tflops']:.4f} TFLOP/s")
    print(
        f"matmul peak {result['matmul_peak_tflops']:.4f} TFLOP/s ({result['matmul_peak_source']}); "
        "probe before each phase: "
        + ", ".join(f"{name} {tflops:.4f}" for name, tflops in result["matmul_probe_tflops_by_phase"].items())
    )
    if "keras_path" in result:
        print(f"ratio vs keras fit from median step times: {result['ratio_vs_keras_fit_median_step']:.3f}")
        print(f"keras path: {result['keras_path']}")
    print(f"whole-process peak RSS {result['peak_rss_gb']:.2f} GB")
    for key, target in TARGETS.items():
        if key not in result["targets_met"]:
            continue
        verdict = "met" if result["targets_met"][key] else "MISSED"
        print(f"{key:24} {result[key]:8.3f}  (target >= {target})  {verdict}")


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    cfg = job_config(args)
    # Ours runs as `gemma-jax train` does (freed step buffers kept, set before JAX starts); the Keras
    # phases then get glibc's defaults back, as in a Keras user's own process.
    retained = retain_freed_host_memory(cfg)
    texts = data_texts(cfg.data)  # the tiny vocabulary is trained on the job's texts, as the trainer does
    print(f"model {args.model}; seq {args.sequence_length}; batch {args.batch_size}; {args.steps} timed steps")
    state: dict = {}

    def ours_phase() -> PhaseResult:
        model = fresh_model(cfg, None, texts)
        state["proto"] = model.tokenizer.proto
        batches, examples, stats = packed_batches(cfg, model, args.steps + 1, cfg.train.grad_accum_steps)
        state.update(batches=batches, examples=examples, data=stats)
        result, state["peak"] = run_ours(cfg, model, batches)
        return result

    phases = {"ours": phase("ours", ours_phase)}
    release_retained_host_memory()
    if "keras_fit" not in args.skip:
        phases["keras_fit"] = phase("keras_fit", lambda: run_keras_fit(cfg, state["proto"], state["batches"]))
    if "guide" not in args.skip:
        phases["guide"] = phase("guide", lambda: run_guide(cfg, state["proto"], state["examples"], args.steps))
    if "peft" not in args.skip:
        phases["peft"] = phase("peft", lambda: run_peft_phase(cfg, state["proto"], state["batches"]))
    data = {k: state["data"][k] for k in ("train_examples", "rows", "packing_efficiency", "steps_per_epoch")}
    extra = {"data": data, "host_memory_retained_for_ours": retained, "peaks": both_peaks()}
    result = summary(args, phases, state["peak"], extra)
    result["runtime_s"] = time.perf_counter() - started
    print_table(result, list(phases.values()))
    print(json.dumps(result), flush=True)
    return result


def both_peaks() -> dict:
    """The device's float32 and bf16 (float32 accumulation) matmul peaks, whichever the step uses."""
    return {
        f"matmul_peak_{dtype}_tflops": device_peak_tflops(dtype=dtype)[0]
        if jax.default_backend() == "cpu"
        else measure_matmul_peak(dtype=jnp.dtype(dtype), size=8192)
        for dtype in ("float32", "bfloat16")
    }


def run_peft_phase(cfg: JobConfig, proto: bytes, host_batches: list[dict]) -> PhaseResult:
    """transformers + PEFT on our packed rows; FLOPs as for keras_fit (the head on every position)."""
    model = fresh_model(cfg, proto)
    measured = run_peft(model, host_batches, cfg.model.dtype, learning_rate=cfg.optimizer.learning_rate)
    rows, seq = np.asarray(host_batches[0]["token_ids"]).shape
    flops = (len(host_batches) - 1) * dense_step_flops(model.backbone, rows=rows, seq=seq, head_positions=rows * seq)
    del model
    release_memory()
    return PhaseResult(
        "peft",
        measured["step_times"],
        measured["tokens"],
        measured["tokens"],
        flops,
        measured["first_step_s"],
        extra={k: v for k, v in measured.items() if k not in ("step_times", "tokens")},
    )


if __name__ == "__main__":
    main(sys.argv[1:])
