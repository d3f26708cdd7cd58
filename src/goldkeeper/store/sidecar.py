"""Files that live in a store beside the dataset but are not part of it (``CHANGELOG.json``).

They are not listed in the manifest, so they do not change the dataset
version, and a dump carries them over unchanged. They are still written the
one canonical way: :func:`canonical_bytes` + an atomic write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from goldkeeper.errors import UsageError
from goldkeeper.fileio import atomic_write_bytes
from goldkeeper.store.canonical import canonical_bytes
from goldkeeper.store.writer import MANAGED


def write_sidecar_json(store_dir: Path, name: str, value: Any) -> Path:
    """Write ``value`` as canonical JSON to ``store_dir/name`` atomically; returns the path."""
    if "/" in name or "\\" in name or name in MANAGED or name.startswith("."):
        raise UsageError(f"{name!r} is not a sidecar file name (the manifest and shard directories belong to dump)")
    path = Path(store_dir) / name
    atomic_write_bytes(path, canonical_bytes(value))
    return path
