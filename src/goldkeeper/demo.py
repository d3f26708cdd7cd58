"""``goldkeeper demo``: everything at once, on a fresh embedded database.

The demo never touches the project's own database: it starts a new embedded
PostgreSQL in ``<home>/demo`` (``.goldkeeper/demo`` by default; wiped at the
start of each run, stopped at the end, left on disk for inspection with
``GOLDKEEPER_HOME=.goldkeeper/demo goldkeeper db start``) and runs
:data:`DEMO_STEPS` in order:

1. ``restore``: the project's golden store (``store.path``, normally golden/)
   into the empty database, embedding every chunk with the configured model;
   without a golden store, the SQuAD sample bundled with goldkeeper is
   imported instead and dumped to ``<home>/demo/golden``;
2. ``verify``: the file contracts of that store and the database contracts.

A step is a :class:`DemoStep`: a name and a function of the shared
:class:`DemoContext` returning a :class:`StepResult` (one summary line and
JSON-able data). Later capabilities add theirs by appending to
:data:`DEMO_STEPS` (e.g. ``DemoStep("eval", run_eval_step)``). A step that
fails raises a :class:`~goldkeeper.errors.GoldkeeperError`; the server is
stopped in every case.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Settings
from .embed.base import Embedder
from .evals.grounded import demo_step as grounded_demo_step
from .evals.retrieval import demo_step as retrieval_demo_step
from .quality.demo_steps import gate_step, report_step
from .progress import SILENT, Progress

DEMO_DIRNAME = "demo"


@dataclass
class DemoContext:
    """What the steps share: settings, the fresh database, the embedder, the store, earlier results."""

    settings: Settings
    url: str
    embedder: Embedder
    home: Path
    progress: Progress = SILENT
    #: the golden store the demo restored (set by the restore step)
    store_path: Path | None = None
    dataset: str | None = None
    version: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    #: step name -> its StepResult.data, for later steps to read
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class StepResult:
    summary: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoStep:
    name: str
    run: Callable[[DemoContext], StepResult]


@dataclass(frozen=True)
class StepReport:
    name: str
    summary: str
    seconds: float
    data: dict[str, Any]


@dataclass(frozen=True)
class DemoReport:
    home: Path
    dataset: str | None
    version: str | None
    model_id: str
    counts: dict[str, int]
    steps: tuple[StepReport, ...]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "dataset": self.dataset,
            "version": self.version,
            "model_id": self.model_id,
            "counts": dict(self.counts),
            "seconds": round(self.seconds, 3),
            "steps": [
                {"name": s.name, "summary": s.summary, "seconds": round(s.seconds, 3), "data": s.data} for s in self.steps
            ],
        }

    def summary_lines(self) -> list[str]:
        width = max((len(s.name) for s in self.steps), default=0)
        lines = [f"goldkeeper demo: a fresh embedded PostgreSQL in {self.home}"]
        lines += [f"  {s.name:<{width}}  {s.summary}  ({s.seconds:.1f} s)" for s in self.steps]
        counts = self.counts
        lines.append(
            f"dataset {self.dataset}: {counts.get('analyses', 0)} analyses, {counts.get('chunks', 0)} chunks, "
            f"{counts.get('queries', 0)} queries"
        )
        lines.append(f"dataset version {self.version}")
        lines.append(f"embedding model {self.model_id}")
        lines.append(f"total {self.seconds:.1f} s; the demo database is stopped")
        return lines


# --------------------------------------------------------------------------- steps


def restore_step(ctx: DemoContext) -> StepResult:
    """Restore golden/ (or import the bundled SQuAD sample) into the fresh database."""
    from .store import open_store

    settings = ctx.settings
    batch = settings.embedding.batch_size
    if (settings.store_path / "manifest.json").is_file():
        from .restore import restore_store

        store = open_store(settings.store_path)
        report = restore_store(ctx.url, store, ctx.embedder, progress=ctx.progress, batch_size=batch)
        ctx.store_path = settings.store_path
        origin = _shown(settings.store_path, settings.root)
    else:
        from .dump import dump
        from .importers.squad import import_squad

        report = import_squad(ctx.url, None, ctx.embedder, progress=ctx.progress, batch_size=batch)
        ctx.store_path = ctx.home / "golden"
        dump(ctx.url, settings, out=ctx.store_path)
        store = open_store(ctx.store_path)
        origin = f"the bundled SQuAD sample (dumped to {ctx.store_path})"
    ctx.dataset = store.manifest.dataset
    ctx.version = store.version
    ctx.counts = dict(store.manifest.counts)
    added = report.analyses.counts()["added"], report.queries.counts()["added"]
    summary = (
        f"{origin} -> database: {added[0]} analyses ({ctx.counts.get('chunks', 0)} chunks), {added[1]} queries; "
        f"{report.chunks_embedded} chunks embedded ({report.embeddings_computed} computed, "
        f"{report.embeddings_cached} from the cache)"
    )
    return StepResult(summary, report.to_json(ids=False))


def verify_step(ctx: DemoContext) -> StepResult:
    """The file contracts of the restored store and the database contracts; raises when invalid."""
    from .errors import VerificationFailed
    from .verify import verify_database, verify_store

    assert ctx.store_path is not None, "the verify step needs the restore step first"
    report = verify_store(ctx.store_path, ctx.settings)
    report = report.merged(verify_database(ctx.url, ctx.store_path, ctx.settings, ctx.embedder))
    if not report.ok():
        raise VerificationFailed(report.summary() + ": " + "; ".join(i.render() for i in report.errors[:5]), report=report)
    checked = dict(report.checked)
    summary = (
        f"files and database: valid, {len(report.errors)} error(s), {len(report.warnings)} warning(s) "
        f"({checked.get('shards', 0)} shards, {checked.get('db chunks', 0)} chunks in the database)"
    )
    return StepResult(summary, {"valid": True, "errors": 0, "warnings": len(report.warnings), "checked": checked})


#: The demo's steps, in order. Capabilities add theirs with one line each.
DEMO_STEPS: list[DemoStep] = [
    DemoStep("restore", restore_step),
    DemoStep("verify", verify_step),
    DemoStep("eval_retrieval", retrieval_demo_step),
    DemoStep("eval_grounded", grounded_demo_step),
    DemoStep("gate", gate_step),
    DemoStep("report", report_step),
]


# --------------------------------------------------------------------------- driver


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) + "/"
    except ValueError:
        return str(path)


def demo_home(settings: Settings) -> Path:
    return settings.home_path / DEMO_DIRNAME


def run_demo(
    settings: Settings,
    *,
    steps: list[DemoStep] | None = None,
    progress: Progress = SILENT,
    embedder: Embedder | None = None,
    on_step: Callable[[StepReport], None] | None = None,
) -> DemoReport:
    """Run the demo steps on a fresh embedded database; the server is stopped afterwards."""
    from .db.embedded import EmbeddedServer
    from .embed import load_embedder

    start = time.perf_counter()
    if embedder is None:
        embedder = load_embedder(settings.embedding, root=settings.root)
    home = demo_home(settings)
    server = EmbeddedServer(home)
    if server.status().running:
        server.stop()
    if home.exists():
        shutil.rmtree(home)
    url = server.start()
    reports: list[StepReport] = []
    ctx = DemoContext(settings=settings, url=url, embedder=embedder, home=home, progress=progress)
    try:
        for step in steps if steps is not None else DEMO_STEPS:
            t0 = time.perf_counter()
            result = step.run(ctx)
            ctx.results[step.name] = result.data
            report = StepReport(step.name, result.summary, time.perf_counter() - t0, result.data)
            reports.append(report)
            if on_step is not None:
                on_step(report)
    finally:
        server.stop()
    return DemoReport(
        home=home,
        dataset=ctx.dataset,
        version=ctx.version,
        model_id=embedder.model_id,
        counts=ctx.counts,
        steps=tuple(reports),
        seconds=time.perf_counter() - start,
    )


__all__ = [
    "DemoContext",
    "DemoStep",
    "StepResult",
    "StepReport",
    "DemoReport",
    "DEMO_STEPS",
    "restore_step",
    "verify_step",
    "demo_home",
    "run_demo",
]
