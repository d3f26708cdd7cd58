"""What an earlier run validated, recalled without pydantic: the start-up of ``goldkeeper show``.

``show`` prints a few fields of one manifest. Validating params.yaml (every section, as every command
does) and the manifest takes pydantic, its schemas and the record models: about 0.2 s of a 0.3 s
budget (issue 15). Both inputs rarely change between two runs, so a successful validation is
remembered, in ``home`` beside the diff's shard hashes:

- ``cache/known-params.json``: the inputs of :func:`goldkeeper.config.load_settings` (the project
  root, the params file's path and sha256, the environment variables it reads, the
  ``--database-url`` option) that validated, with what ``show`` needs of the result (``store.path``);
- ``cache/known-manifests.json``: manifests by sha256 (the dataset version), with ``show``'s summary.

Only successes are remembered: an input not seen before (an edited params.yaml, another
environment, a new manifest) is validated as before, with the same errors, and then remembered.
Each file also holds a fingerprint of the code that validated (goldkeeper's version and the
size and modification time of its config and model modules and of pydantic), so an upgrade or an
edited validator validates again. Like the shard hashes, a missing, unreadable or corrupt file
is empty and a failure to write one is ignored: it only ever saves time.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldkeeper import __version__
from goldkeeper.discovery import PARAMS_FILE, find_project_root
from goldkeeper.errors import GoldkeeperError
from goldkeeper.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from goldkeeper.config import Settings

#: what load_settings reads besides its arguments: the environment variables with these names
#: (tests/test_known.py keeps it in step with goldkeeper.config.settings)
ENV_PREFIX = "GOLDKEEPER_"
ENV_NAMES = ("DATABASE_URL",)
#: the most entries a memo file keeps (the oldest go first)
MAX_ENTRIES = 64
_VERSION = 1
#: the modules whose code decides what validates (besides pydantic), relative to the package
_VALIDATORS = ("config/sections.py", "config/settings.py", "models.py")


@functools.cache  # the code running in this process: taken once
def code_fingerprint() -> str:
    """goldkeeper's version and the size and modification time of the validating modules and of pydantic."""
    package = Path(__file__).resolve().parents[1]
    files = [package / name for name in _VALIDATORS]
    spec = importlib.util.find_spec("pydantic")  # finds the package without importing it
    if spec is not None and spec.origin:
        files.append(Path(spec.origin).with_name("version.py"))
    parts: list[object] = [__version__]
    for file in files:
        try:
            st = file.stat()
        except OSError:
            parts.append(str(file))
            continue
        parts.append([str(file), st.st_size, st.st_mtime_ns])
    return _digest(parts)


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


class Memo:
    """One memo file: entries by key, valid for one code fingerprint."""

    def __init__(self, path: Path, code: str) -> None:
        self.path = path
        self.code = code
        self._entries: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._entries is None:
            self._entries = {}
            try:
                data = json.loads(self.path.read_bytes())
            except (OSError, ValueError):
                return self._entries
            if isinstance(data, dict) and data.get("version") == _VERSION and data.get("code") == self.code:
                entries = data.get("entries")
                self._entries = entries if isinstance(entries, dict) else {}
        return self._entries

    def get(self, key: str) -> Any:
        return self._load().get(key)

    def put(self, key: str, value: Any) -> None:
        """Remember ``value`` under ``key`` (written at once; a failure to write is ignored)."""
        entries = self._load()
        if entries.get(key) == value:
            return
        entries.pop(key, None)
        entries[key] = value
        while len(entries) > MAX_ENTRIES:
            entries.pop(next(iter(entries)))
        data = json.dumps({"version": _VERSION, "code": self.code, "entries": entries}, separators=(",", ":"))
        try:
            atomic_write_bytes(self.path, data.encode())
        except GoldkeeperError:
            return


@dataclass(frozen=True)
class KnownStore:
    """The ``store`` section as far as ``show`` reads it (spelled as on :class:`Settings`, so callers need no branch)."""

    path: str


@dataclass(frozen=True)
class KnownSettings:
    """What ``show`` needs of settings that validated before: the root, ``home`` and ``store.path`` (and the cwd)."""

    root: Path
    home_path: Path
    store: KnownStore
    cwd: Path | None = None

    def resolve(self, path: str | Path) -> Path:
        path = Path(path)
        return path if path.is_absolute() else self.root / path

    def given(self, path: str | Path) -> Path:
        path = Path(path)
        return path if path.is_absolute() else (self.cwd or self.root) / path


@dataclass(frozen=True)
class ParamsInputs:
    """The inputs of ``load_settings`` without overrides: its key in the memo, and where the memo is."""

    root: Path
    home_path: Path
    key: str | None  # None: the params file could not be read (validation says why)
    cwd: Path | None = None  # where goldkeeper started (load_settings: the root is found from there)

    @classmethod
    def of(
        cls, root: Path | None, params_file: Path | None, database_url: str | None, env: dict[str, str] | None = None
    ) -> ParamsInputs:
        env = dict(os.environ) if env is None else env
        cwd = Path(root or Path.cwd()).resolve()
        root = cwd if params_file is not None else find_project_root(cwd)  # as load_settings
        params = (params_file if params_file is not None else root / PARAMS_FILE).absolute()
        home = Path(env["GOLDKEEPER_HOME"]).resolve() if env.get("GOLDKEEPER_HOME") else root / ".goldkeeper"
        try:
            params_sha256: str | None = hashlib.sha256(params.read_bytes()).hexdigest()
        except FileNotFoundError:
            params_sha256 = None  # no params.yaml: the defaults
        except OSError:
            return cls(root, home, None, cwd)
        read = {name: value for name, value in env.items() if name.startswith(ENV_PREFIX) or name in ENV_NAMES}
        inputs = [str(root), str(params), params_sha256, sorted(read.items()), database_url]
        return cls(root, home, _digest(inputs), cwd)

    def memo(self, code: str | None = None) -> Memo:
        return Memo(self.home_path / "cache" / "known-params.json", code or code_fingerprint())

    def recall(self, memo: Memo) -> KnownSettings | None:
        """The settings these inputs gave when they last validated, or None."""
        entry = memo.get(self.key) if self.key is not None else None
        if not isinstance(entry, dict) or not isinstance(entry.get("store_path"), str):
            return None
        return KnownSettings(self.root, self.home_path, KnownStore(entry["store_path"]), self.cwd)

    def remember(self, memo: Memo, settings: Settings) -> None:
        """Note that these inputs validated into ``settings`` (not for a root that does not exist: writing the
        memo would create it, and ``goldkeeper -C typo show`` must leave no directory behind)."""
        if self.key is None or settings.root != self.root or settings.home_path != self.home_path:
            return
        if self.root.is_dir():
            memo.put(self.key, {"store_path": settings.store.path})


def manifest_memo(home_path: Path, code: str | None = None) -> Memo:
    """Manifests that validated, by the sha256 of their bytes, with ``show``'s summary of each."""
    return Memo(home_path / "cache" / "known-manifests.json", code or code_fingerprint())


__all__ = ["KnownSettings", "KnownStore", "Memo", "ParamsInputs", "code_fingerprint", "manifest_memo"]
