"""Run identity, current metrics and versioned baselines.

A baseline is the set of metrics accepted for one identity:

- dataset id + dataset version (the sha256 of golden/manifest.json),
- model version: the embedding model id (name + sha256 of its ONNX file) plus the answerer
  identity; ``GOLDKEEPER_MODEL_VERSION`` overrides it,
- prompt version: ``prompt.version`` in params.yaml; ``GOLDKEEPER_PROMPT_VERSION`` overrides it.

Baselines are JSON files under ``baselines/`` named ``<dataset id>-<16 hex of the identity hash>.json``
(listed as DVC metrics, so ``dvc metrics diff`` shows them).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from goldkeeper.config import Settings
from goldkeeper.errors import ConfigError, DataIntegrityError, EvalError, UsageError
from goldkeeper.fileio import json_bytes as dump_json
from goldkeeper.fileio import read_json, unique_keys, write_json
from goldkeeper.store import Store, open_store

MODEL_VERSION_ENV = "GOLDKEEPER_MODEL_VERSION"
PROMPT_VERSION_ENV = "GOLDKEEPER_PROMPT_VERSION"
BASELINE_SCHEMA_VERSION = 1
DEFAULT_METRICS = ("metrics/retrieval.json", "metrics/grounded.json")
#: The keys :attr:`RunIdentity.key` writes: the dataset slug (no ``/``, no leading or trailing ``.``
#: or ``-``) and 16 hex of the identity hash. Only such a key names a file, so ``--key ../x`` never
#: reads a JSON outside the baselines directory.
KEY_PATTERN = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?-[0-9a-f]{16}")


class RunIdentity(BaseModel):
    """What a baseline is keyed by."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset_id: str = Field(alias="datasetId", min_length=1)
    dataset_version: str = Field(alias="datasetVersion", min_length=1)
    model_version: str = Field(alias="modelVersion", min_length=1)
    prompt_version: str = Field(alias="promptVersion", min_length=1)

    def as_json(self) -> dict[str, str]:
        return self.model_dump(by_alias=True)

    @property
    def digest(self) -> str:
        return hashlib.sha256(dump_json(self.as_json())).hexdigest()

    @property
    def key(self) -> str:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", self.dataset_id).strip("-.") or "dataset"
        return f"{slug}-{self.digest[:16]}"


def _run_labels(path: Path) -> dict[str, str]:
    """The ``answerer`` and ``judge`` labels a grounded run wrote into its metrics (none when absent)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: data[k] for k in ("answerer", "judge") if isinstance(data.get(k), str) and data[k]}


def _database_version(path: Path) -> str | None:
    """The ``dataset_version`` label of an eval's metrics file when it came from the database, else None."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get("dataset_version_source") == "database":
        version = data.get("dataset_version")
        if isinstance(version, str) and version:
            return version
    return None


def measured_version(settings: Settings, metrics: Sequence[Path] = ()) -> str | None:
    """The dataset version the evals measured: the ``dataset_version`` label of ``metrics`` (else of the
    evals' default outputs) when it came from the database (:mod:`goldkeeper.evals.dataset_version`).

    ``metrics`` measured on two versions (one eval rerun after a restore, the other's file stale) is an EvalError:
    their metrics would be gated, or recorded as a baseline, under one version's identity.
    """
    measured: dict[str, Path] = {}
    for path in metrics:
        version = _database_version(path)
        if version is not None:
            measured.setdefault(version, path)
    if len(measured) > 1:
        (first, a), (second, b) = list(measured.items())[:2]
        raise EvalError(
            f"{b}: measured dataset version {second[:12]}, but {a} measured {first[:12]}: rerun the stale eval "
            "(`goldkeeper eval retrieval` / `eval grounded` on the database as it is now) so both measure one version"
        )
    if measured:
        return next(iter(measured))
    for path in [settings.resolve(settings.retrieval.out), settings.resolve(settings.grounded.out)]:
        version = _database_version(path)
        if version is not None:
            return version
    return None


def answerer_identity(settings: Settings, metrics: Sequence[Path] = ()) -> str:
    """The answerer and judge of the grounded run (the labels of ``metrics``, else of ``grounded.out``), else params.

    ``eval grounded --answerer responses:FILE`` writes ``answerer: responses:FILE`` and the judge's
    name, model and threshold (``aligned@0.65``) into its metrics, so the identity is the run's, not
    params.yaml's. Without that file: params.yaml's answerer and judge (with its threshold when set).
    """
    params = settings.grounded
    labels: dict[str, str] = {}
    for path in [*metrics, settings.resolve(params.out)]:
        labels = labels or _run_labels(path)
    judge = params.judge
    if params.judge_model_path:
        judge += f":{params.judge_model_path}"
    if params.judge_threshold is not None:
        judge += f"@{params.judge_threshold:g}"
    return f"answerer={labels.get('answerer', params.answerer)};judge={labels.get('judge', judge)}"


def resolve_identity(
    settings: Settings,
    *,
    model_id: Callable[[], str],
    store: Store | None = None,
    env: Mapping[str, str] | None = None,
    metrics: Sequence[Path] = (),
) -> RunIdentity:
    """The identity of the current run, from the golden store, params.yaml and the environment; the dataset
    version is the one the evals measured in the database (:func:`measured_version`), else the store's.

    ``model_id`` gives the embedding model's id (name@sha256:...); it is called only when
    $GOLDKEEPER_MODEL_VERSION does not override it, since it may have to load the model.
    """
    env = os.environ if env is None else env
    store = store if store is not None else open_store(settings.store_path)
    model = env.get(MODEL_VERSION_ENV) or f"{model_id()}+{answerer_identity(settings, metrics)}"
    prompt = env.get(PROMPT_VERSION_ENV) or settings.prompt.version
    return RunIdentity(
        datasetId=store.manifest.dataset,
        datasetVersion=measured_version(settings, metrics) or store.version,
        modelVersion=model,
        promptVersion=prompt,
    )


def _flatten(prefix: str, value: Any, out: dict[str, float], source: Path) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out, source)
    elif isinstance(value, bool) or not isinstance(value, float):
        return  # labels, flags and JSON integers (counts: cases, claims) are not rate metrics
    elif not math.isfinite(value):
        raise EvalError(f"{source}: metric {prefix!r} is {value}, not a finite number")
    else:
        out[prefix] = float(value)


def load_metrics(paths: Sequence[Path]) -> dict[str, float]:
    """The metrics of the given eval outputs, merged (nested keys joined with dots).

    Metrics are the JSON numbers with a fraction part (``0.91``, ``1.0``); JSON integers are
    counts (``cases``, ``claims``) and strings are labels: both are skipped.
    """
    merged: dict[str, float] = {}
    origin: dict[str, Path] = {}
    for path in paths:
        try:
            data = json.loads(path.read_bytes(), object_pairs_hook=unique_keys)
        except FileNotFoundError as exc:
            raise EvalError(f"{path}: metrics file not found (run `goldkeeper eval` first)") from exc
        except OSError as exc:
            raise EvalError(f"{path}: cannot read metrics: {exc.strerror}") from exc
        except ValueError as exc:
            raise EvalError(f"{path}: metrics file is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise EvalError(f"{path}: metrics file must hold a JSON object")
        found: dict[str, float] = {}
        _flatten("", data, found, path)
        for key, value in found.items():
            if key in merged and merged[key] != value:
                raise EvalError(f"{path}: metric {key!r} is also in {origin[key]} with another value")
            merged[key] = value
            origin[key] = path
    if not merged:
        raise EvalError(f"no numeric metrics in {', '.join(str(p) for p in paths)}")
    return merged


class Baseline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_version: int = Field(alias="schemaVersion")
    key: str
    identity: RunIdentity
    metrics: dict[str, float]
    recorded_at: str = Field(alias="recordedAt")
    sources: list[str] = Field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


class BaselineStore:
    """The baselines/ directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, identity: RunIdentity) -> Path:
        return self.path_of(identity.key)

    def path_of(self, key: str) -> Path:
        """The file of ``key``; a key the store does not write (``../x``, ``a/b``) is a UsageError (exit 2)."""
        if not KEY_PATTERN.fullmatch(key):
            raise UsageError(
                f"baseline key {key!r} is not a baseline key (<dataset>-<16 hex>, see `goldkeeper baseline list`)"
            )
        return self.directory / f"{key}.json"

    def record(self, identity: RunIdentity, metrics: dict[str, float], sources: Sequence[str] = ()) -> Baseline:
        baseline = Baseline(
            schema_version=BASELINE_SCHEMA_VERSION,
            key=identity.key,
            identity=identity,
            metrics=dict(sorted(metrics.items())),
            recorded_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            sources=list(sources),
        )
        write_json(self.path_for(identity), baseline.as_json())
        return baseline

    def load_file(self, path: Path) -> Baseline:
        data = read_json(path, "baseline")
        if not isinstance(data, dict) or data.get("schemaVersion") != BASELINE_SCHEMA_VERSION:
            raise DataIntegrityError(
                f"{path}: unsupported baseline schemaVersion "
                f"{data.get('schemaVersion') if isinstance(data, dict) else None!r} (expected {BASELINE_SCHEMA_VERSION})"
            )
        try:
            return Baseline.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise DataIntegrityError(f"{path}: field {field}: {first['msg']}") from exc

    def get(self, identity: RunIdentity) -> Baseline | None:
        path = self.path_for(identity)
        return self.load_file(path) if path.exists() else None

    def list(self) -> list[Baseline]:
        if not self.directory.is_dir():
            return []
        return [self.load_file(p) for p in sorted(self.directory.glob("*.json"))]


def find_baseline(baselines: BaselineStore, key: str | None, identity: RunIdentity | None) -> Baseline:
    """The baseline recorded under ``key``, else the one of ``identity``; a missing one is a ConfigError."""
    if key:
        path = baselines.path_of(key)
        if not path.exists():
            raise ConfigError(f"{path}: no baseline with key {key!r} (see `goldkeeper baseline list`)")
        return baselines.load_file(path)
    assert identity is not None, "find_baseline needs a key or an identity"
    found = baselines.get(identity)
    if found is None:
        raise ConfigError(
            f"{baselines.path_for(identity)}: no baseline for the current identity {identity.key} "
            "(record one with `goldkeeper baseline record`)"
        )
    return found
