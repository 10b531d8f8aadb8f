"""The peer for training throughput: Hugging Face transformers + PEFT LoRA on the same shape and batches.

The model is built from our backbone's own transformers config (`export.transformers_export.hf_config`),
so shape, vocabulary, attention (SDPA) and soft caps are the same as ours; its weights are random,
which does not change the work a step does. LoRA rank 8 on q_proj/v_proj (our query/value), AdamW,
the loss on every position of the same packed token rows (transformers' usual causal-LM loss; ours
runs the output head at loss positions only: that difference is part of what is compared).
Runs on CUDA when torch sees a GPU, else on the CPU with torch's default threads.
"""

from __future__ import annotations

import time

import numpy as np

from gemma_jax.export.transformers_export import hf_config
from gemma_jax.models.loaded_model import LoadedModel

TORCH_DTYPES = {"float32": "float32", "bfloat16": "bfloat16"}


def run_peft(model: LoadedModel, host_batches: list[dict], dtype: str, learning_rate: float = 1e-4) -> dict:
    """Step times (first batch untimed: warm-up), tokens per timed step and memory, as a dict."""
    import peft
    import torch
    import transformers

    torch_dtype = getattr(torch, TORCH_DTYPES[dtype])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    config = dict(hf_config(model, dtype=dtype))
    config.pop("architectures", None)
    hf = transformers.AutoConfig.for_model(config.pop("model_type"), **config)
    hf._attn_implementation = "sdpa"
    torch.manual_seed(0)
    net = transformers.AutoModelForCausalLM.from_config(hf, dtype=torch_dtype).to(device)
    lora = peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"])
    net = peft.get_peft_model(net, lora)
    for parameter in net.parameters():  # LoRA factors in float32, as ours keeps them
        if parameter.requires_grad:
            parameter.data = parameter.data.float()
    net.train()
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=learning_rate)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()

    def step(batch: dict) -> float:
        ids = torch.as_tensor(np.asarray(batch["token_ids"]), dtype=torch.long, device=device)
        valid = torch.as_tensor(np.asarray(batch["segment_ids"]) > 0, device=device)
        labels = torch.where(valid, ids, torch.full_like(ids, -100))
        start = time.perf_counter()
        with torch.autocast(device_type=device, dtype=torch_dtype, enabled=dtype != "float32"):
            loss = net(input_ids=ids, attention_mask=valid.long(), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        _ = loss.item()
        return time.perf_counter() - start

    first_s = step(host_batches[0])
    times = [step(batch) for batch in host_batches[1:]]
    tokens = sum(int((np.asarray(b["segment_ids"]) > 0).sum()) for b in host_batches[1:])
    memory = torch.cuda.max_memory_allocated() / 1e9 if device == "cuda" else None
    return {
        "step_times": times,
        "tokens": tokens,
        "first_step_s": first_s,
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "device_peak_memory_gb": memory,
    }
