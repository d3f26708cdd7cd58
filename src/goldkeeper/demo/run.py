"""``goldkeeper demo``: everything at once, on a fresh embedded database.

The demo never touches the project's own database: it starts a new embedded
PostgreSQL in ``<home>/demo`` (``.goldkeeper/demo`` by default; wiped at the
start of each run, stopped at the end, left on disk for inspection with
``GOLDKEEPER_HOME=.goldkeeper/demo goldkeeper db start``) and runs
:data:`DEMO_STEPS` (:mod:`goldkeeper.demo.steps`) in order. A step that fails
raises a :class:`~goldkeeper.errors.GoldkeeperError`; the server is stopped in
every case.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldkeeper.config import Settings
from goldkeeper.config.sections import RubricParams
from goldkeeper.db.embedded import EmbeddedServer
from goldkeeper.demo.context import DemoContext, DemoStep
from goldkeeper.demo.mapped import MAPPING_FILE, mapped_dump_step, mapped_restore_step, mapped_settings, package_file
from goldkeeper.demo.mapped import schema_step as mapped_schema_step
from goldkeeper.demo.steps import gate_step, grounded_step, report_step, restore_step, retrieval_step, verify_step
from goldkeeper.errors import UsageError
from goldkeeper.progress import SILENT, Progress
from goldkeeper.store import MANIFEST

if TYPE_CHECKING:  # the embedder module loads onnxruntime (0.3 s): `goldkeeper --help` must not
    from goldkeeper.embed.base import Embedder

DEMO_DIRNAME = "demo"


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
    #: True: through the example application schema and its mapping (``demo --mapped``)
    mapped: bool = False
    #: lines shown under the first one (which database, which mapping)
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "home": str(self.home),
            "mapped": self.mapped,
            "notes": list(self.notes),
            "dataset": self.dataset,
            "version": self.version,
            "model_id": self.model_id,
            "counts": dict(self.counts),
            "seconds": round(self.seconds, 3),
            "steps": [
                {"name": s.name, "summary": s.summary, "seconds": round(s.seconds, 3), "data": s.data}
                for s in self.steps
            ],
        }

    def summary_lines(self) -> list[str]:
        width = max((len(s.name) for s in self.steps), default=0)
        lines = [f"goldkeeper demo: a fresh embedded PostgreSQL in {self.home}", *self.notes]
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


#: The demo's steps, in order. Capabilities add theirs with one line each.
DEMO_STEPS: list[DemoStep] = [
    DemoStep("restore", restore_step),
    DemoStep("verify", verify_step),
    DemoStep("eval_retrieval", retrieval_step),
    DemoStep("eval_grounded", grounded_step),
    DemoStep("gate", gate_step),
    DemoStep("report", report_step),
]

#: ``demo --mapped``: the example application schema first, the same steps through the mapping, a final dump.
MAPPED_STEPS: list[DemoStep] = [
    DemoStep("schema", mapped_schema_step),
    DemoStep("restore", mapped_restore_step),
    *DEMO_STEPS[1:],
    DemoStep("dump", mapped_dump_step),
]


# --------------------------------------------------------------------------- driver


def demo_home(settings: Settings) -> Path:
    return settings.home_path / DEMO_DIRNAME


#: what a demo writes in its home (the server, :class:`DemoContext`'s outputs); the lock files alone: a demo
#: killed before its server existed
DEMO_ENTRIES = frozenset({"pgdata", "baselines", "artifacts", "golden", "dump", "metrics", "reports"})
SERVER_FILES = frozenset({"server.lock", "server-owner.json"})


def check_demo_home(home: Path) -> None:
    """The demo wipes its home: refuse one goldkeeper did not make (``$GOLDKEEPER_HOME/demo`` can be a folder of
    the user's, e.g. with GOLDKEEPER_HOME set to a home directory), before anything is stopped or deleted."""
    if not home.exists() and not home.is_symlink():
        return
    names = {entry.name for entry in home.iterdir()} if home.is_dir() and not home.is_symlink() else None
    if names is not None and names <= DEMO_ENTRIES | SERVER_FILES and ("pgdata" in names or names <= SERVER_FILES):
        return
    shown = ", ".join(sorted(names - DEMO_ENTRIES - SERVER_FILES)[:3]) if names is not None else None
    what = f"holds {shown}, which" if shown else "is not a folder that"
    raise UsageError(
        f"{home}: {what} goldkeeper demo did not write; the demo wipes this folder at each run, so it will not "
        "run there: move it, or set GOLDKEEPER_HOME to another folder"
    )


#: The rubric floors the bundled sample is gated at when the project sets none: the ones goldkeeper's own
#: params.yaml sets for it, with the reason (the built-in extractive answerer refuses many answerable SQuAD
#: prompts, and a wrong refusal scores 0, so its scores sit near 0.78, under the 0.95 default meant for a real
#: system). tests/test_demo.py holds the two equal.
SAMPLE_RUBRIC_FLOORS = {"grounded_precision": 0.70, "citation_coverage": 0.70, "citation_freshness": 0.70}


def demo_settings(settings: Settings, *, mapped: bool) -> tuple[Settings, tuple[str, ...]]:
    """The settings the demo runs with, and the lines that say so: the demo database is not the user's, so a
    params ``database:`` section is set aside (the reference schema), unless ``mapped`` (the example mapping);
    the bundled sample is gated at :data:`SAMPLE_RUBRIC_FLOORS` unless params.yaml sets a floor."""
    settings, notes = _sample_rubric(settings)
    if mapped:
        mapping = package_file(MAPPING_FILE)
        return mapped_settings(settings), (
            f"through the example application schema and its mapping {mapping} "
            "(copy its database: section into your params.yaml)",
            *notes,
        )
    if settings.database is not None:
        return settings.model_copy(update={"database": None}), (
            "params.yaml's database: section is not used: the demo database is not yours, it has goldkeeper's "
            "reference schema golden (try `goldkeeper demo --mapped`)",
            *notes,
        )
    return settings, notes


def _sample_rubric(settings: Settings) -> tuple[Settings, tuple[str, ...]]:
    """Without a golden store the demo runs on the bundled sample: there, without a floor set in params.yaml,
    the gate checks the sample's own floors instead of the 0.95 defaults its answerer cannot reach."""
    if (settings.store_path / MANIFEST).is_file() or settings.rubric.model_fields_set & SAMPLE_RUBRIC_FLOORS.keys():
        return settings, ()
    rubric = settings.rubric.model_copy(update=SAMPLE_RUBRIC_FLOORS)
    floors = ", ".join(f"{name} {value:g}" for name, value in SAMPLE_RUBRIC_FLOORS.items())
    return settings.model_copy(update={"rubric": rubric}), (
        f"the bundled sample is gated at rubric floors {floors}, set for the built-in extractive answerer; "
        f"your own data's default is {RubricParams().grounded_precision:g} (params.yaml rubric:)",
    )


def run_demo(
    settings: Settings,
    *,
    mapped: bool = False,
    steps: list[DemoStep] | None = None,
    progress: Progress = SILENT,
    embedder: Embedder | None = None,
    on_step: Callable[[StepReport], None] | None = None,
) -> DemoReport:
    """Run the demo steps (``mapped``: :data:`MAPPED_STEPS`) on a fresh embedded database; the server is stopped
    afterwards."""
    from goldkeeper.embed import load_embedder  # noqa: PLC0415 - start-up: fastembed (project module doc)

    start = time.perf_counter()
    if embedder is None:
        embedder = load_embedder(settings.embedding, root=settings.root)
    home = demo_home(settings)
    settings, notes = demo_settings(settings, mapped=mapped)
    check_demo_home(home)
    server = EmbeddedServer(home)
    if server.status().running:
        server.stop()
    if home.exists():
        shutil.rmtree(home)
    url = server.start()
    reports: list[StepReport] = []
    ctx = DemoContext(settings=settings, url=url, embedder=embedder, home=home, progress=progress)
    try:
        for step in steps if steps is not None else (MAPPED_STEPS if mapped else DEMO_STEPS):
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
        mapped=mapped,
        notes=notes,
    )


__all__ = [
    "SAMPLE_RUBRIC_FLOORS",
    "StepReport",
    "DemoReport",
    "DEMO_STEPS",
    "MAPPED_STEPS",
    "demo_settings",
    "demo_home",
    "run_demo",
]
