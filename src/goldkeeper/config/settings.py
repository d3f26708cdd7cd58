"""params.yaml + environment + command-line options -> one frozen :class:`Settings`.

params.yaml is the file DVC tracks, so every parameter that changes a result
lives there. Precedence, highest first: command-line option, environment
variable, params.yaml, the defaults of :mod:`goldkeeper.config.sections`.
Unknown sections and unknown keys are errors naming the key (a typo must not
silently fall back to a default).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from goldkeeper.config.sections import (
    BaselineParams,
    DatabaseParams,
    DatasetParams,
    DiffParams,
    DumpParams,
    EmbeddingParams,
    GateParams,
    GroundedParams,
    PromptParams,
    ReportParams,
    RestoreParams,
    RetrievalParams,
    RubricParams,
    StoreParams,
    VerifyParams,
)
from goldkeeper.discovery import PARAMS_FILE, find_project_root
from goldkeeper.errors import ConfigError, UsageError

DEFAULT_PARAMS_FILE = PARAMS_FILE
DATABASE_URL_ENV = ("GOLDKEEPER_DATABASE_URL", "DATABASE_URL")


class Settings(BaseModel):
    """Everything a goldkeeper operation may need, resolved once."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the directory the relative paths below are resolved against (the project root).
    root: Path = Field(default_factory=Path.cwd)
    #: where goldkeeper was started (or ``-C``): paths typed on the command line are relative to it, as in
    #: the user's shell. None: the root. Differs from the root when params.yaml was found above it.
    cwd: Path | None = None
    #: where the embedded PostgreSQL lives ($GOLDKEEPER_HOME or .goldkeeper in the root).
    home: Path | None = None
    database_url: str | None = None

    dataset: DatasetParams = Field(default_factory=DatasetParams)
    store: StoreParams = Field(default_factory=StoreParams)
    dump: DumpParams = Field(default_factory=DumpParams)
    restore: RestoreParams = Field(default_factory=RestoreParams)
    embedding: EmbeddingParams = Field(default_factory=EmbeddingParams)
    verify: VerifyParams = Field(default_factory=VerifyParams)
    diff: DiffParams = Field(default_factory=DiffParams)
    retrieval: RetrievalParams = Field(default_factory=RetrievalParams)
    grounded: GroundedParams = Field(default_factory=GroundedParams)
    rubric: RubricParams = Field(default_factory=RubricParams)
    prompt: PromptParams = Field(default_factory=PromptParams)
    baseline: BaselineParams = Field(default_factory=BaselineParams)
    gate: GateParams = Field(default_factory=GateParams)
    report: ReportParams = Field(default_factory=ReportParams)
    #: the application's own tables (issue 12); None: goldkeeper's reference schema ``golden``.
    database: DatabaseParams | None = None

    @property
    def store_path(self) -> Path:
        return self.resolve(self.store.path)

    @property
    def home_path(self) -> Path:
        return self.home if self.home is not None else self.root / ".goldkeeper"

    @property
    def fulltext_index_config(self) -> str | None:
        """The ``retrieval.fulltext_config`` whose index restore, import and ``db init`` give golden.chunks
        (:mod:`goldkeeper.db.fulltext_index`); None with params ``database:``: eval then reads the application's
        own tables, which never get DDL from goldkeeper."""
        return self.retrieval.fulltext_config if self.database is None else None

    @property
    def metrics_files(self) -> list[str]:
        """The metrics files the gate reads: ``gate.metrics``, else the outputs of the two evals."""
        if self.gate.metrics is not None:
            return list(self.gate.metrics)
        return [self.retrieval.out, self.grounded.out]

    def resolve(self, path: str | Path) -> Path:
        path = Path(path)
        return path if path.is_absolute() else self.root / path

    def given(self, path: str | Path) -> Path:
        """A path the user typed (command line, library argument): relative to :attr:`cwd`, not to the root."""
        path = Path(path)
        return path if path.is_absolute() else (self.cwd or self.root) / path

    def display_path(self, path: str | Path) -> str:
        """``path`` relative to the project root when inside it (POSIX), else absolute.

        Paths recorded in committed files (runs, baselines, gate verdicts) must
        not depend on where the project is checked out.
        """
        path = self.resolve(path)
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)


#: The top-level keys of params.yaml: exactly the sections of Settings.
SECTIONS = frozenset(name for name in Settings.model_fields if name not in {"root", "cwd", "home", "database_url"})


def _config_error(exc: ValidationError, option_names: Mapping[str, str]) -> ConfigError | UsageError:
    """The first problem, named where its value came from: the command-line option that gave the key
    (``option_names``, a bad argument: exit 2), else params.yaml."""
    first = exc.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    # pydantic words a validator's own message "Value error, ..."; the user needs only the message
    msg = first["msg"].removeprefix("Value error, ")
    option = next((name for given, name in option_names.items() if key == given or key.startswith(f"{given}.")), None)
    if option is not None:
        return UsageError(f"{option}: {msg}", key=key, option=option)
    return ConfigError(f"params: {key}: {msg}", key=key)


#: libyaml's safe loader when PyYAML has it (30x faster than the pure-Python one: start-up), else PyYAML's own.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _DuplicateKey(yaml.YAMLError):
    """A key given twice in one mapping of params.yaml (see :class:`_ParamsLoader`)."""


class _ParamsLoader(_SAFE_LOADER):  # type: ignore[misc,valid-type]
    """The safe loader, refusing a key given twice in one mapping: YAML keeps the last one, so a second
    ``retrieval:`` pasted below the first (merging goldkeeper's sections into a params.yaml of one's own) silently
    replaced the whole first section, while DVC, reading the same file, refuses it. A merge key's (``<<: *x``)
    keys are not counted: overriding those is what merging is for."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[tuple[type, Any], int] = {}
        for key_node, _ in node.value:
            key = None if key_node.tag == "tag:yaml.org,2002:merge" else self.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool):
                continue  # a merge key, or a key no section uses (a list: YAML refuses it as a key anyway)
            line = key_node.start_mark.line + 1
            if (type(key), key) in seen:
                raise _DuplicateKey(
                    f"line {line}: the key {key!r} is given twice (first on line {seen[type(key), key]})"
                )
            seen[type(key), key] = line
        return super().construct_mapping(node, deep=deep)


def load_params(path: Path) -> dict[str, Any]:
    """Read params.yaml; a missing file is an empty mapping."""
    if not path.exists():
        return {}
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_ParamsLoader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of sections")
    return data


#: overrides params.yaml ``diff.base`` (the PR workflow sets it to the pull request's base branch)
DIFF_BASE_ENV = "GOLDKEEPER_DIFF_BASE"


def load_settings(
    root: Path | None = None,
    params_file: Path | None = None,
    database_url: str | None = None,
    overrides: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    option_names: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve the settings for the project at or above ``root`` (default: the current directory).

    The project root is the nearest directory from ``root`` upwards holding params.yaml, within the
    enclosing git repository (:func:`goldkeeper.discovery.find_project_root`); ``root`` itself stays
    :attr:`Settings.cwd`. An explicit ``params_file`` names the parameters: no search, ``root`` is the
    root. ``overrides`` are section-level updates from command-line options, e.g.
    ``{"embedding": {"model": "..."}}``; ``option_names`` names the option behind an overridden key
    (``{"grounded.as_of": "--as-of"}``) so that a bad value is reported as that option's, not params'.
    """
    env = dict(os.environ) if env is None else env
    cwd = Path(root or Path.cwd()).resolve()
    root = cwd if params_file is not None else find_project_root(cwd)
    params_path = params_file if params_file is not None else root / DEFAULT_PARAMS_FILE
    values: dict[str, Any] = dict(load_params(params_path))
    unknown = sorted(set(values) - SECTIONS)
    if unknown:
        raise ConfigError(f"{params_path}: unknown section {unknown[0]!r}", key=unknown[0])
    if env.get(DIFF_BASE_ENV):
        values["diff"] = {**(values.get("diff") or {}), "base": env[DIFF_BASE_ENV]}
    for section, update in (overrides or {}).items():
        values[section] = {**(values.get(section) or {}), **update}
    values["root"], values["cwd"] = root, cwd
    home = env.get("GOLDKEEPER_HOME")
    if home:
        values["home"] = Path(home).resolve()
    values["database_url"] = database_url or next((env[k] for k in DATABASE_URL_ENV if env.get(k)), None)
    _resolve_model_path(values, root)
    given = {key: name for key, name in (option_names or {}).items() if _overridden(overrides or {}, key)}
    return validate_settings(values, given)


def validate_settings(values: dict[str, Any], option_names: Mapping[str, str] | None = None) -> Settings:
    """Settings from plain values (sections as mappings); a bad key or value is a ConfigError naming it
    (a UsageError naming the option, for a key in ``option_names``: see :func:`load_settings`)."""
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise _config_error(exc, option_names or {}) from exc


def _overridden(overrides: dict[str, Any], key: str) -> bool:
    """Whether ``overrides`` sets the dotted ``key`` (``section.field``)."""
    section, _, name = key.partition(".")
    update = overrides.get(section)
    return isinstance(update, dict) and name in update


def _resolve_model_path(values: dict[str, Any], root: Path) -> None:
    """A relative ``embedding.model_path`` means relative to the project root, not to the cwd."""
    embedding = values.get("embedding")
    if isinstance(embedding, dict) and isinstance(embedding.get("model_path"), str):
        path = Path(embedding["model_path"]).expanduser()
        values["embedding"] = {**embedding, "model_path": str(path if path.is_absolute() else root / path)}


__all__ = [
    "DEFAULT_PARAMS_FILE",
    "DATABASE_URL_ENV",
    "DIFF_BASE_ENV",
    "SECTIONS",
    "Settings",
    "load_params",
    "load_settings",
    "validate_settings",
]
