"""Which shard a record lives in: a stable hash of its id.

The hash is sha256 of the id's string form (never Python's salted ``hash``),
so a record stays in the same shard across runs, machines and versions, and
adding one record rewrites one shard.
"""

from __future__ import annotations

import hashlib


def shard_index(record_id: str, shard_count: int) -> int:
    if shard_count < 1:
        raise ValueError("shard_count must be >= 1")
    digest = hashlib.sha256(record_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shard_count


def shard_name(index: int, shard_count: int) -> str:
    width = max(2, len(str(shard_count - 1)))
    return f"{index:0{width}d}.json"


def shard_path(entity: str, record_id: str, shard_count: int) -> str:
    """Store-relative POSIX path of the shard holding ``record_id``."""
    return f"{entity}/{shard_name(shard_index(record_id, shard_count), shard_count)}"
