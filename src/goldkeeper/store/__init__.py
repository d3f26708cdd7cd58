"""The golden store: canonical sharded JSON with a manifest. Only this package writes dataset files."""

from goldkeeper.store.canonical import canonical_bytes, sha256_hex
from goldkeeper.store.reader import Store, open_store, validate_record
from goldkeeper.store.source import DirectorySource, StoreSource
from goldkeeper.store.writer import MANIFEST, StoreWriter, write_store

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
