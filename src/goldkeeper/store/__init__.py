"""The golden store: canonical sharded JSON with a manifest. Only this package writes dataset files.

The names below are imported from their modules when first used (PEP 562), not when the package
is: ``goldkeeper show`` imports ``store.git_command`` alone, and the reader and writer would bring
pydantic and every record model with them (start-up, benchmarks/README.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goldkeeper.store.canonical import canonical_bytes, sha256_hex
    from goldkeeper.store.reader import Store, open_store, validate_record
    from goldkeeper.store.source import MANIFEST, DirectorySource, StoreSource
    from goldkeeper.store.writer import StoreWriter, write_store

#: each name of the package's API -> the module of this package that defines it
_HOMES = {
    "canonical_bytes": "canonical",
    "sha256_hex": "canonical",
    "Store": "reader",
    "open_store": "reader",
    "validate_record": "reader",
    "DirectorySource": "source",
    "StoreSource": "source",
    "MANIFEST": "source",
    "StoreWriter": "writer",
    "write_store": "writer",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # found once: later lookups do not come here
    return value


__all__ = [
    "canonical_bytes",
    "sha256_hex",
    "Store",
    "open_store",
    "validate_record",
    "DirectorySource",
    "StoreSource",
    "MANIFEST",
    "StoreWriter",
    "write_store",
]
