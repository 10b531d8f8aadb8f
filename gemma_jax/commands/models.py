"""`gemma-jax models`: the Gemma variants with sizes and memory estimates, here or on a named machine.

argparse only at import: the tables load when the command runs.
"""

from __future__ import annotations

import json

from gemma_jax.command_line import positive_int


def _models(args) -> int:
    from gemma_jax.models.models_table import format_models_table, models_rows

    if args.topology is not None:
        return _models_on_topology(args)
    if args.mesh is not None:
        raise ValueError("--mesh needs --topology NAME (see gemma-jax models --topology list)")
    rows = models_rows(
        batch_size=args.batch_size,
        sequence_length=args.sequence_length,
        dtype=args.dtype,
        lora_rank=args.lora_rank,
        quantization=args.quantization,
    )
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(format_models_table(rows, args.batch_size, args.sequence_length, args.dtype, args.quantization))
    return 0


def _models_on_topology(args) -> int:
    """`models --topology NAME|auto|list [--mesh D,F,M]`: per-device memory on a named machine."""
    from gemma_jax.models import models_table as table
    from gemma_jax.parallel.topologies import TOPOLOGIES, get_topology, topology_for_devices

    if args.topology.strip().lower() == "list":
        shown = [t.as_dict() for t in TOPOLOGIES.values()]
        print(json.dumps(shown, indent=1) if args.json else table.format_topologies())
        return 0
    if args.topology.strip().lower() == "auto":
        import jax

        topology = topology_for_devices(jax.devices())
    else:
        topology = get_topology(args.topology)
    if args.mesh is not None:
        topology = topology.with_mesh(*_mesh_sizes(args.mesh))
    options = {
        "batch_size": args.batch_size,
        "sequence_length": args.sequence_length,
        "dtype": args.dtype,
        "quantization": args.quantization,
    }
    rows = table.topology_rows(topology, lora_rank=args.lora_rank, **options)
    notes = table.topology_notes(topology)
    if args.json:
        assumed = {**options, "lora_rank": args.lora_rank, "lora_targets": ["query", "value"], "optimizer": "adamw"}
        report = {
            "topology": topology.as_dict(),
            "usable_bytes_per_device": topology.usable_bytes(),
            "assumed": assumed,
            "notes": notes,
            "models": rows,
        }
        print(json.dumps(report, indent=1))
    else:
        header = table.topology_header(topology, lora_rank=args.lora_rank, **options)
        print(table.format_topology_table(rows, header, notes))
    return 0


def _mesh_sizes(text: str) -> tuple[int, int, int]:
    parts = text.replace("x", ",").split(",")
    try:
        sizes = tuple(int(part) for part in parts)
    except ValueError:
        sizes = ()
    if len(sizes) != 3:
        raise ValueError(f"--mesh takes DATA,FSDP,MODEL (three whole numbers, one may be -1), got {text!r}")
    return sizes


def add_parser(commands) -> None:
    """Add `models` to the `gemma-jax` subparsers."""
    models = commands.add_parser("models", help="list the Gemma variants with sizes and memory estimates")
    models.add_argument("--batch-size", type=positive_int, default=8, help="rows per step (default 8)")
    models.add_argument("--sequence-length", type=positive_int, default=256, help="tokens per row (default 256)")
    models.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16", help="weight/compute dtype")
    models.add_argument("--lora-rank", type=positive_int, default=8, help="LoRA rank (query and value)")
    models.add_argument("--quantization", choices=["int8", "int4"], default="int4", help="QLoRA base (default int4)")
    models.add_argument("--json", action="store_true", help="print the list as JSON (sizes in bytes)")
    models.add_argument(
        "--topology",
        metavar="NAME",
        help="per-device memory on a machine: a preset (v5e-8, 8xH100, ...), auto (this machine's devices) "
        "or list (the presets)",
    )
    models.add_argument(
        "--mesh", metavar="DATA,FSDP,MODEL", help="with --topology: another mesh over its devices, e.g. 2,4,1"
    )
    models.set_defaults(handler=_models)
