"""params.yaml + environment + command-line options -> one frozen :class:`Settings`.

params.yaml is the file DVC tracks, so every parameter that changes a result
lives there. Precedence, highest first: command-line option, environment
variable, params.yaml, the defaults below. Unknown keys in params.yaml are an
error naming the key (a typo must not silently fall back to a default).

Each capability owns one section; add fields to its section class only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError

DEFAULT_PARAMS_FILE = "params.yaml"
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DATABASE_URL_ENV = ("GOLDKEEPER_DATABASE_URL", "DATABASE_URL")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetParams(Section):
    name: str = "golden"


class StoreParams(Section):
    path: str = "golden"
    shards: dict[Literal["analyses", "queries"], int] = Field(default_factory=lambda: {"analyses": 8, "queries": 16})


class DumpParams(Section):
    statuses: list[str] = Field(default_factory=lambda: ["completed"])


class EmbeddingParams(Section):
    #: a fastembed model name; the default is carried inside the package.
    model: str = DEFAULT_MODEL
    #: a local directory with the ONNX model and tokenizer; None = vendored (default model) or fastembed's cache.
    model_path: str | None = None
    batch_size: int = Field(default=64, ge=1)
    #: the fastembed/ONNX Runtime thread count; None = all cores.
    threads: int | None = None


class VerifyParams(Section):
    placeholder_patterns: list[str] = Field(
        default_factory=lambda: ["placeholder", "example.com", "example.org", "localhost", "127.0.0.1", "todo", "tbd"]
    )
    url_schemes: list[str] = Field(default_factory=lambda: ["https", "http"])


class Settings(BaseModel):
    """Everything a goldkeeper operation may need, resolved once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the directory the relative paths below are resolved against (the project root).
    root: Path = Field(default_factory=Path.cwd)
    #: where the embedded PostgreSQL lives ($GOLDKEEPER_HOME or ./.goldkeeper).
    home: Path | None = None
    database_url: str | None = None

    dataset: DatasetParams = Field(default_factory=DatasetParams)
    store: StoreParams = Field(default_factory=StoreParams)
    dump: DumpParams = Field(default_factory=DumpParams)
    embedding: EmbeddingParams = Field(default_factory=EmbeddingParams)
    verify: VerifyParams = Field(default_factory=VerifyParams)
    #: sections owned by later capabilities (retrieval, rubric, gate, ...): kept as validated-later dicts.
    extra: dict[str, Any] = Field(default_factory=dict)

    @property
    def store_path(self) -> Path:
        return self.resolve(self.store.path)

    @property
    def home_path(self) -> Path:
        return self.home if self.home is not None else self.root / ".goldkeeper"

    def resolve(self, path: str | Path) -> Path:
        path = Path(path)
        return path if path.is_absolute() else self.root / path

    def display_path(self, path: str | Path) -> str:
        """``path`` relative to the project root when inside it (POSIX), else absolute.

        Paths recorded in committed files (runs, baselines, gate verdicts) must
        not depend on where the project is checked out.
        """
        path = self.resolve(path)
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)

    def section(self, name: str, model: type[Section]) -> Any:
        """Validate a later capability's section of params.yaml with its own model."""
        try:
            return model.model_validate(self.extra.get(name, {}))
        except ValidationError as exc:
            raise _config_error(exc, prefix=name) from exc


#: The top-level keys of params.yaml validated by Settings itself; any other
#: top-level key must be registered here by the capability that owns it.
KNOWN_SECTIONS = {"dataset", "store", "dump", "embedding", "verify"}
EXTRA_SECTIONS: set[str] = {"retrieval", "rubric", "grounded", "eval", "baseline", "gate", "report", "diff", "policy", "prompt"}


def _config_error(exc: ValidationError, prefix: str = "") -> ConfigError:
    first = exc.errors()[0]
    key = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(first["loc"]))
    return ConfigError(f"params: {key}: {first['msg']}", key=key)


def load_params(path: Path) -> dict[str, Any]:
    """Read params.yaml; a missing file is an empty mapping."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of sections")
    return data


def load_settings(
    root: Path | None = None,
    params_file: Path | None = None,
    database_url: str | None = None,
    overrides: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Settings:
    """Resolve the settings for a project directory.

    ``overrides`` are section-level updates from command-line options, e.g.
    ``{"embedding": {"model": "..."}}``.
    """
    env = dict(os.environ) if env is None else env
    root = Path(root or Path.cwd()).resolve()
    params_path = params_file if params_file is not None else root / DEFAULT_PARAMS_FILE
    params = load_params(params_path)
    unknown = set(params) - KNOWN_SECTIONS - EXTRA_SECTIONS
    if unknown:
        raise ConfigError(f"{params_path}: unknown section {sorted(unknown)[0]!r}", key=sorted(unknown)[0])
    values: dict[str, Any] = {k: v for k, v in params.items() if k in KNOWN_SECTIONS}
    values["extra"] = {k: v for k, v in params.items() if k in EXTRA_SECTIONS}
    for section, update in (overrides or {}).items():
        if section in KNOWN_SECTIONS:
            values[section] = {**(values.get(section) or {}), **update}
        else:
            values["extra"][section] = {**(values["extra"].get(section) or {}), **update}
    values["root"] = root
    home = env.get("GOLDKEEPER_HOME")
    if home:
        values["home"] = Path(home).resolve()
    values["database_url"] = database_url or next((env[k] for k in DATABASE_URL_ENV if env.get(k)), None)
    _resolve_model_path(values, root)
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise _config_error(exc) from exc


def _resolve_model_path(values: dict[str, Any], root: Path) -> None:
    """A relative ``embedding.model_path`` means relative to the project root, not to the cwd."""
    embedding = values.get("embedding")
    if isinstance(embedding, dict) and isinstance(embedding.get("model_path"), str):
        path = Path(embedding["model_path"]).expanduser()
        values["embedding"] = {**embedding, "model_path": str(path if path.is_absolute() else root / path)}
