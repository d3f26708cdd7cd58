"""What the demo's steps share: the :class:`DemoContext`, and a step's result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldkeeper.config import Settings
from goldkeeper.progress import SILENT, Progress
from goldkeeper.project import Project

if TYPE_CHECKING:  # the embedder module loads onnxruntime (0.3 s): `goldkeeper --help` must not
    from goldkeeper.embed.base import Embedder


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

    @cached_property
    def project(self) -> Project:
        """The project as the demo runs it: the demo database, baselines and trend under the demo home."""
        settings = self.settings.model_copy(
            update={
                "database_url": self.url,
                "baseline": self.settings.baseline.model_copy(update={"dir": str(self.home / "baselines")}),
                "report": self.settings.report.model_copy(update={"dir": str(self.home / "artifacts" / "evals")}),
            }
        )
        return Project(settings, progress=self.progress, embedder=self.embedder)

    def output(self, *parts: str) -> Path:
        """A path under the demo home (the project's own metrics/ and reports/ are never written)."""
        return self.home.joinpath(*parts)


@dataclass(frozen=True)
class StepResult:
    summary: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoStep:
    name: str
    run: Callable[[DemoContext], StepResult]


__all__ = ["DemoContext", "StepResult", "DemoStep"]
