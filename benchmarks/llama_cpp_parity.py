"""llama.cpp runs our GGUF export: its greedy text against gemma-jax's, on the run's held-out prompts.

Not part of the test suite: llama.cpp's Python binding (`pip install llama-cpp-python`, which builds
llama.cpp from source: about 15 minutes on 2 cores) is not a gemma-jax dependency. In one process:

1. `gemma-jax export RUN --formats gguf-f16` (reused when the run already has it);
2. **ours**: the run's fine-tuned model (`load_run_model`, float32), greedy, `Generator.generate_ids`;
   (`--ours gguf`: the exported GGUF read back by our importer instead, for quantized formats);
3. **llama.cpp**: `llama_cpp.Llama(model_path=the .gguf)`, greedy (temperature 0, top_k 1), from the same
   prompt token ids (so both start from the identical context), stopping at `<end_of_turn>`/`<eos>`.

    python benchmarks/llama_cpp_parity.py RUN_DIR [--prompts 8] [--new-tokens 48]

The last stdout line is one JSON object: `prompts`, `identical_text` (count), `all_identical`,
`first_difference` (per prompt, the token index where the two first differ, or null), and the texts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=48)
    parser.add_argument("--format", default="gguf-f16", choices=["gguf-f16", "gguf-q8_0", "gguf-q4_k_m"])
    parser.add_argument(
        "--ours",
        default="run",
        choices=["run", "gguf"],
        help="run: the run's fine-tuned float model (the quantization shows as differences); gguf: the same "
        "GGUF file read by our importer (the two implementations on identical weights)",
    )
    args = parser.parse_args(argv)
    try:
        import llama_cpp
    except ImportError:
        print("llama-cpp-python is not installed: pip install llama-cpp-python", file=sys.stderr)
        return 2

    from gemma_jax.data import prompt_text
    from gemma_jax.export import list_exports
    from gemma_jax.export.exporter import export_run
    from gemma_jax.export.quality import held_out_pairs
    from gemma_jax.models.generation import Generator
    from gemma_jax.runs.run_store import RunStore
    from gemma_jax.train.run_model import load_run_model

    model, step = load_run_model(args.run_dir)
    found = [e for e in list_exports(args.run_dir) if e["kind"] == args.format and e["step"] == step]
    folder = Path(found[0]["path"]) if found else export_run(args.run_dir, step, formats=args.format).folders[0]
    gguf = folder / json.loads((folder / "export.json").read_text())["gguf"]

    if args.ours == "gguf":
        from gemma_jax.models.loading import load_model

        model = load_model(str(gguf))
    prompts = [prompt_text(p) for p, _ in held_out_pairs(RunStore.open(args.run_dir).config(), args.prompts)]
    generator = Generator(model, max_length=512)
    ours = generator.generate_ids(prompts, args.new_tokens, temperature=0.0)

    llm = llama_cpp.Llama(model_path=str(gguf), n_ctx=512, n_threads=os.cpu_count(), verbose=False, seed=0)
    tokenizer = model.tokenizer
    stops = set(generator.stop_ids)
    rows = []
    for prompt, mine in zip(prompts, ours, strict=True):
        ids = [tokenizer.bos_id, *tokenizer.encode(prompt)]
        theirs: list[int] = []
        for token in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, repeat_penalty=1.0, reset=True):
            if token in stops or len(theirs) >= args.new_tokens:
                break
            theirs.append(int(token))
        text = tokenizer.decode(theirs).strip()
        mine_ids = list(mine.token_ids)
        differ = next((i for i, (a, b) in enumerate(zip(mine_ids, theirs)) if a != b), None)
        if differ is None and len(mine_ids) != len(theirs):
            differ = min(len(mine_ids), len(theirs))
        rows.append({"prompt": prompt, "ours": mine.text, "llama_cpp": text, "first_difference": differ})
    identical = sum(row["ours"] == row["llama_cpp"] for row in rows)
    for row in rows:
        print(f"--- {row['prompt']!r}\n ours:      {row['ours']!r}\n llama.cpp: {row['llama_cpp']!r}", flush=True)
    result = {
        "run": Path(args.run_dir).name,
        "step": step,
        "format": args.format,
        "ours": args.ours,
        "gguf_bytes": gguf.stat().st_size,
        "llama_cpp_python": llama_cpp.__version__,
        "prompts": len(rows),
        "identical_text": identical,
        "all_identical": identical == len(rows),
        "first_difference": [row["first_difference"] for row in rows],
        "rows": rows,
    }
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
