"""`gemma-jax data push` and `gemma-jax data versions`: dataset versions on gs:// from the command line."""

from __future__ import annotations

import dataclasses
import json
import time

from gemma_jax.data.versions import push, versions
from gemma_jax.storage_cost import cost_note


def push_command(args) -> int:
    """Upload one data file as a dataset version; print the data.train_path that trains from it."""
    version = push(args.file, args.to, args.name)
    if args.json:
        print(json.dumps(dataclasses.asdict(version)))
    else:
        print(f"{version.name} {version.version}: {version.bytes:,} bytes, sha256 {version.sha256}")
        print(f"train from it with: --set data.train_path={version.url}")
    return 0


def versions_command(args) -> int:
    """List a dataset's complete versions, oldest first."""
    found = versions(args.root, args.name)
    for version in found:
        if args.json:
            print(json.dumps(dataclasses.asdict(version)))
        else:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(version.created))
            print(f"{version.version}  {when}  {version.bytes:>12,} bytes  {version.file}  {version.url}")
    if not found and not args.json:
        print(f"no versions of {args.name} under {args.root}")
    elif not args.json:
        total = sum(v.bytes for v in found)
        print(f"{len(found)} versions, {total:,} bytes: {cost_note(total)} at rest")
    return 0
