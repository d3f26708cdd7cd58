"""The application layer: one :class:`Project` per invocation, built from Settings.

A Project owns the resources every operation shares and opens each at most once: the golden store (in the
working tree, a directory, or at a git revision), the database (the configured URL, or the embedded server
started for the duration of :meth:`Project.database` and stopped afterwards), and the embedding model. Each
operation of goldkeeper is one method here; the CLI parses options, makes one call, and renders the result,
and ``goldkeeper demo`` runs the same methods in order. Library users do the same::

    project = Project.load("path/to/repo")
    report = project.restore(replace=True)
    verdict = project.gate()

The root is the nearest directory holding params.yaml from the one given upwards (as git finds ``.git``),
params.yaml's paths are relative to it; paths passed to the methods are relative to the one given (Settings.cwd).

The heavy operations are imported inside the methods that run them, and only there: each needs a different slice of
goldkeeper, and importing all of it costs about 1.5 s of start-up (psycopg + pgvector 0.7 s, numpy 0.2 s, fastembed +
onnxruntime 1.0 s, ``python -X importtime`` on 2 cores), which ``goldkeeper diff``, ``show`` and ``--help`` must not
pay (issue 15: under 0.3-0.5 s); ``tests/test_architecture.py`` checks that ``goldkeeper.cli`` imports none.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goldkeeper.config import Settings, load_settings
from goldkeeper.errors import DatabaseError, DataIntegrityError
from goldkeeper.fileio import atomic_write_bytes, write_json
from goldkeeper.progress import SILENT, Progress
from goldkeeper.project.runs import GroundedRun, RetrievalRun
from goldkeeper.store import DirectorySource, Store, StoreSource, open_store
from goldkeeper.store.guard import refuse_inside_store

if TYPE_CHECKING:
    from goldkeeper.dataset.changelog import ChangelogResult
    from goldkeeper.dataset.diff import DatasetDiff
    from goldkeeper.dataset.dump import DumpReport
    from goldkeeper.dataset.fmt import FmtResult
    from goldkeeper.dataset.history import LogEntry
    from goldkeeper.dataset.restore import RestoreReport
    from goldkeeper.dataset.verify import VerifyReport
    from goldkeeper.db.embedded import EmbeddedServer
    from goldkeeper.db.mapping_check import MappingCheck
    from goldkeeper.embed.base import Embedder
    from goldkeeper.importers.common import ExportReport, ImportedRecords
    from goldkeeper.quality.baseline import Baseline, BaselineStore, RunIdentity
    from goldkeeper.quality.gate_run import GateResult
    from goldkeeper.quality.report import ReportFiles
    from goldkeeper.quality.trend import TrendStore


class Project:
    """One goldkeeper project: its settings and the resources operations share (see the module doc)."""

    def __init__(self, settings: Settings, *, progress: Progress = SILENT, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.progress = progress
        self._embedder = embedder
        self._url: str | None = None

    @classmethod
    def load(
        cls,
        root: Path | str | None = None,
        *,
        params_file: Path | None = None,
        database_url: str | None = None,
        overrides: dict[str, Any] | None = None,
        progress: Progress = SILENT,
    ) -> Project:
        """The project at or above ``root`` (default: the current directory), params.yaml and environment resolved."""
        where = Path(root) if root is not None else None
        settings = load_settings(root=where, params_file=params_file, database_url=database_url, overrides=overrides)
        return cls(settings, progress=progress)

    # ------------------------------------------------------------------ resources

    def _given(self, path: Path | str | None) -> Path | None:
        """A path the caller gave, absolute: relative to where they are (Settings.cwd), not to the root."""
        return self.settings.given(path) if path is not None else None

    def store_source(self, *, rev: str | None = None, path: Path | str | None = None) -> StoreSource:
        """The golden store's files: at a git revision (``path``: its path in the repository), or a directory."""
        path = self._given(path)
        if rev is not None:
            from goldkeeper.store.git_source import git_store_source  # noqa: PLC0415 - start-up (module doc)

            return git_store_source(
                self.settings.root, rev, str(path) if path is not None else self.settings.store.path
            )
        return DirectorySource(self.settings.resolve(path) if path is not None else self.settings.store_path)

    def open_store(self, *, rev: str | None = None, path: Path | str | None = None) -> Store:
        """The golden store (see :meth:`store_source`), opened."""
        return open_store(self.store_source(rev=rev, path=path))

    def output_path(self, path: Path | str, *, given: bool = False) -> Path:
        """Where an output goes (relative: to the root; ``given`` by the user: to their cwd); refused in the store."""
        resolved = self.settings.given(path) if given else self.settings.resolve(path)
        refuse_inside_store(resolved, self.settings.store_path, path)
        return resolved

    def _output(self, given: Path | str | None, default: Path | str) -> Path:
        """:meth:`output_path` of the path the user gave, else of the params default."""
        return self.output_path(given, given=True) if given is not None else self.output_path(default)

    @contextmanager
    def database(self) -> Iterator[str]:
        """The database URL for the duration of the block; nested blocks share one server start."""
        if self._url is not None:
            yield self._url
            return
        from goldkeeper.db.embedded import database_url_for  # noqa: PLC0415 - start-up (module doc)

        with database_url_for(self.settings.database_url, self.settings.home_path) as url:
            self._url = url
            try:
                yield url
            finally:
                self._url = None

    @property
    def embedder(self) -> Embedder:
        """The configured embedding model, loaded on first use."""
        if self._embedder is None:
            from goldkeeper.embed import load_embedder  # noqa: PLC0415 - start-up (module doc)

            self._embedder = load_embedder(self.settings.embedding, root=self.settings.root)
        return self._embedder

    @cached_property
    def baselines(self) -> BaselineStore:
        from goldkeeper.quality.baseline import BaselineStore  # noqa: PLC0415 - start-up (module doc)

        return BaselineStore(self.output_path(self.settings.baseline.dir))  # record writes there: not in the store

    def trend(self, directory: Path | str | None = None, *, read: bool = False) -> TrendStore:
        """The eval trend in ``directory`` (default report.dir); ``read`` (report, serve): one given must hold a
        trend index, else a typo rendered or served an empty dashboard (``gate`` starts one where it is told)."""
        from goldkeeper.quality.trend import TrendStore  # noqa: PLC0415 - start-up (module doc)

        trend = TrendStore(self._given(directory) or self.settings.resolve(self.settings.report.dir))
        if read and directory is not None:
            trend.require_index(str(directory), self.settings.report.dir)
        return trend

    # ------------------------------------------------------------------ the database

    @property
    def server(self) -> EmbeddedServer:
        """The embedded PostgreSQL of this project (in ``home``), whether or not it runs."""
        from goldkeeper.db.embedded import EmbeddedServer  # noqa: PLC0415 - start-up (module doc)

        return EmbeddedServer(self.settings.home_path)

    def display_url(self) -> str:
        """The database URL commands will use, password redacted (``db url``)."""
        if self.settings.database_url:
            from goldkeeper.db.connection import usable_redacted_url  # noqa: PLC0415 - start-up (module doc)

            return usable_redacted_url(self.settings.database_url)
        found = self.server.url()
        if found is None:
            raise DatabaseError("the embedded server is not running (start it with `goldkeeper db start`)")
        return found

    def init_schema(self) -> dict[str, Any]:
        """``db init``: create or upgrade the reference schema for the configured model's dimension."""
        from goldkeeper.db.schema import init_schema  # noqa: PLC0415 - start-up (module doc)

        dim, settings = self.embedder.dim, self.settings
        options = (settings.restore.lock_timeout_seconds, settings.fulltext_index_config, self.progress)
        with self.database() as url:
            return {**init_schema(url, dim, *options), "dim": dim}

    def check_database(self) -> MappingCheck:
        """``db check``: the params ``database:`` mapping against the live database (ConfigError without one)."""
        from goldkeeper.db.mapping_check import check_database  # noqa: PLC0415 - start-up (module doc)

        with self.database() as url:
            return check_database(url, self.settings.database, self.embedder.dim)

    # ------------------------------------------------------------------ the dataset

    def dump(self, out: Path | str | None = None, *, guard: bool = True) -> DumpReport:
        from goldkeeper.dataset.dump import dump  # noqa: PLC0415 - start-up (module doc)

        target = self._given(out) or self.settings.store_path
        with self.database() as url:
            return dump(url, self.settings, target, self.progress, guard=guard)

    def restore(
        self,
        *,
        source: Path | str | None = None,
        rev: str | None = None,
        replace: bool = False,
        dry_run: bool = False,
        marker: Path | str | None = None,
        allow: Sequence[str] = (),
    ) -> RestoreReport:
        """Load the store (a directory, or ``source`` at ``rev``) into the database; all or nothing. Every verify
        contract runs first (errors not in ``allow`` refuse it, exit 5, before the database is started); differing
        rows without ``replace`` raise ConflictError; ``marker`` is the DVC restore stage's small JSON output."""
        from goldkeeper.dataset import restore as restoring  # noqa: PLC0415 - start-up (module doc)

        marker = self.output_path(marker, given=True) if marker is not None else None
        store = self.store_source(rev=rev, path=source)
        verified = restoring.verify_for_restore(store, self.settings, allow, self.progress)
        with self.database() as url:
            report = restoring.restore_verified(
                url,
                verified,
                self.embedder,
                replace=replace,
                dry_run=dry_run,
                progress=self.progress,
                batch_size=self.settings.embedding.batch_size,
                lock_timeout=self.settings.restore.lock_timeout_seconds,
                database=self.settings.database,
                fulltext_config=self.settings.fulltext_index_config,
            )
        if marker is not None and not dry_run:
            restoring.write_marker(marker, verified.store, report)
        return report

    def import_squad(
        self, path: Path | str | None, *, replace: bool = False, dry_run: bool = False, max_bytes: int | None = None
    ) -> RestoreReport:
        """Load a SQuAD 2.0 file (None: the bundled sample; at most ``max_bytes``) into the database, like restore."""
        from goldkeeper.importers.squad import DEFAULT_MAX_BYTES, read_squad, sample_path  # noqa: PLC0415 - start-up

        source = self._given(path) or sample_path()
        records = read_squad(source, max_bytes=max_bytes or DEFAULT_MAX_BYTES, progress=self.progress)
        return self._import_records(records, source, replace=replace, dry_run=dry_run)

    def import_file(
        self, fmt: str, path: Path | str, *, kind: str | None = None, replace: bool = False, dry_run: bool = False
    ) -> RestoreReport:
        """A file in a foreign format (``squad``, ``backup``, ``prompts``, ``jsonl``), read first, into the database."""
        from goldkeeper.importers.registry import read_file  # noqa: PLC0415 - start-up (module doc)

        resolved = self.settings.given(path)
        records = read_file(fmt, resolved, kind, self.progress)
        return self._import_records(records, resolved, replace=replace, dry_run=dry_run)

    def _import_records(self, records: ImportedRecords, source: Path, *, replace: bool, dry_run: bool) -> RestoreReport:
        """Records read from ``source`` into the database: restore's one transaction and semantics."""
        from goldkeeper.importers.common import import_records  # noqa: PLC0415 - start-up (module doc)

        settings = self.settings  # with params database: the application's own tables, as restore writes them
        options: dict[str, Any] = {"progress": self.progress, "batch_size": settings.embedding.batch_size}
        options.update(source=str(source), fulltext_config=settings.fulltext_index_config, database=settings.database)
        options["lock_timeout"] = settings.restore.lock_timeout_seconds  # and the lock wait, as restore's
        with self.database() as url:
            return import_records(url, records, self.embedder, replace=replace, dry_run=dry_run, **options)

    def export_file(self, fmt: str, path: Path | str, rev: str | None = None, **options: Any) -> ExportReport:
        """The store (``source`` option: a directory, or its path at ``rev``) as a file in a foreign format."""
        from goldkeeper.importers.registry import export_file  # noqa: PLC0415 - start-up (module doc)

        target = self.output_path(path, given=True)
        store = self.open_store(rev=rev, path=options.pop("source", None))
        return export_file(fmt, store, target, progress=self.progress, **options)

    def _store_version(self) -> str | None:
        """The working tree's store version (None: no readable store), which the evals compare with the database's."""
        try:
            return self.open_store().version
        except DataIntegrityError:
            return None

    def verify(self, directory: Path | str | None = None, *, db: bool = False) -> VerifyReport:
        """The store's contracts, and with ``db`` the database's against it and the configured model."""
        from goldkeeper.dataset.verify import verify_database, verify_store  # noqa: PLC0415 - start-up (module doc)

        store_dir = self._given(directory) or self.settings.store_path
        report = verify_store(store_dir, self.settings, progress=self.progress)
        if db:
            with self.database() as url:
                db_report = verify_database(url, store_dir, self.settings, self.embedder, progress=self.progress)
                report = report.merged(db_report)
        return report

    def fmt(self, directory: Path | str | None = None, *, check: bool = False) -> FmtResult:
        """A hand-edited store validated and rewritten in canonical form (``check``: only say what would change)."""
        from goldkeeper.dataset.fmt import format_store  # noqa: PLC0415 - start-up (module doc)

        store_dir = self._given(directory) or self.settings.store_path
        return format_store(store_dir, self.settings, check=check, progress=self.progress)

    # ------------------------------------------------------------------ review and history

    def diff(self, old: str | None = None, new: str | None = None) -> DatasetDiff:
        """Records added / removed / modified between two revisions or store directories."""
        from goldkeeper.dataset.diff import diff  # noqa: PLC0415 - start-up (module doc)

        return diff(old, new, self.settings, progress=self.progress)

    def render_diff(self, result: DatasetDiff, fmt: str) -> bytes:
        """The diff as ``text`` (terminal), ``md`` (pull-request comment, capped at ``diff.max_md_chars``) or ``json``."""
        from goldkeeper.dataset.diff.render import render  # noqa: PLC0415 - start-up (module doc)

        return render(result, fmt, self.settings.diff.max_md_chars)

    def diff_report(self, old: str | None = None, new: str | None = None) -> tuple[DatasetDiff, Path, Path]:
        """The DVC stage: the diff against ``diff.base`` (default: the repository's default branch) written as
        markdown and JSON (params ``diff``)."""
        from goldkeeper.dataset.diff.render import to_json_bytes, to_markdown  # noqa: PLC0415 - start-up (module doc)
        from goldkeeper.dataset.diff.sides import diff_base  # noqa: PLC0415 - start-up (module doc)

        params = self.settings.diff
        md_path, json_path = self.output_path(params.md), self.output_path(params.json_out)
        # OLD named on the command line must exist; the configured or default base never fails the stage
        result = self.diff(old, new) if old else diff_base(params.base, new, self.settings, self.progress)
        atomic_write_bytes(md_path, to_markdown(result, params.max_md_chars).encode("utf-8"))
        atomic_write_bytes(json_path, to_json_bytes(result))
        return result, md_path, json_path

    def changelog(self, base: str = "HEAD", message: str | None = None) -> ChangelogResult:
        from goldkeeper.dataset.changelog import append_changelog  # noqa: PLC0415 - start-up (module doc)

        return append_changelog(self.settings, base=base, message=message, progress=self.progress)

    def log(self, rev: str = "HEAD", max_count: int | None = None) -> list[LogEntry]:
        from goldkeeper.dataset.history import dataset_log  # noqa: PLC0415 - start-up (module doc)

        return dataset_log(self.settings, rev=rev, max_count=max_count, progress=self.progress)

    def show(self, rev: str = "HEAD") -> dict[str, Any]:
        from goldkeeper.dataset.history import show_revision  # noqa: PLC0415 - start-up (module doc)

        return show_revision(self.settings, rev)

    # ------------------------------------------------------------------ evaluation

    def eval_retrieval(
        self,
        *,
        modes: Sequence[str] | None = None,
        k: int | None = None,
        out: Path | str | None = None,
        per_query: Path | str | None = None,
        trec_dir: Path | str | None = None,
        plots_dir: Path | str | None = None,
    ) -> RetrievalRun:
        """Search every answerable query in each mode, score it, write the metrics, per-query and TREC files."""
        from goldkeeper.evals.retrieval import run_retrieval, write_outputs  # noqa: PLC0415 - start-up (module doc)

        params = self.settings.retrieval
        metrics, records = self._output(out, params.out), self._output(per_query, params.per_query)
        trec, plots = self._output(trec_dir, params.trec_dir), self._output(plots_dir, params.plots_dir)
        tracked = plots_dir is not None or metrics == self.output_path(params.out)  # else a one-off run: no plots
        chosen = list(modes or params.modes)
        embedder = self.embedder if any(m in ("vector", "hybrid") for m in chosen) else None
        with self.database() as url:
            result = run_retrieval(
                url,
                embedder,
                params,
                modes=chosen,
                k=k,
                progress=self.progress,
                store_version=self._store_version(),
                database=self.settings.database,
            )
        outputs = (metrics, records, trec, plots if tracked else None)
        return RetrievalRun(result, write_outputs(result, *outputs, progress=self.progress))

    def eval_grounded(
        self,
        *,
        answerer: str | None = None,
        limit: int | None = None,
        out: Path | str | None = None,
        per_case: Path | str | None = None,
        store_path: Path | None = None,
    ) -> GroundedRun:
        """Answer every query with the answerer, score the answers, write the metrics and per-case files."""
        from goldkeeper.evals.grounded import check_outputs, run_grounded, write_outputs  # noqa: PLC0415 - start-up

        params = self.settings.grounded
        out_path, per_case_path = self._output(out, params.out), self._output(per_case, params.per_case_out)
        check_outputs(self.settings, answerer, [out_path, per_case_path])
        with self.database() as url:
            report = run_grounded(
                self.settings,
                answerer=answerer,
                limit=limit,
                progress=self.progress,
                embedder=self.embedder,
                store_path=store_path,
                database_url=url,
            )
        write_outputs(report, out_path, per_case_path)
        return GroundedRun(report, out_path, per_case_path)

    # ------------------------------------------------------------------ baselines, gate, report

    def metrics_paths(self, given: Sequence[Path | str] = ()) -> list[Path]:
        """The metrics files to gate or record: those given, else params ``gate.metrics`` / the evals' outputs."""
        if given:
            return [self.settings.given(p) for p in given]
        return [self.settings.resolve(p) for p in self.settings.metrics_files]

    def identity(
        self, store: Store | None = None, env: Mapping[str, str] | None = None, metrics: Sequence[Path] = ()
    ) -> RunIdentity:
        """The baseline identity of this run: dataset id + version, model + the run's answerer + judge, prompt version."""
        from goldkeeper.quality.baseline import resolve_identity  # noqa: PLC0415 - start-up (module doc)

        return resolve_identity(
            self.settings, store=store, env=env, model_id=lambda: self.embedder.model_id, metrics=metrics
        )

    def record_baseline(self, metrics: Sequence[Path | str] = ()) -> tuple[Baseline, Path]:
        from goldkeeper.quality.baseline import load_metrics  # noqa: PLC0415 - start-up (module doc)

        paths = self.metrics_paths(metrics)
        identity = self.identity(metrics=paths)
        baseline = self.baselines.record(identity, load_metrics(paths), [self.settings.display_path(p) for p in paths])
        return baseline, self.baselines.path_for(identity)

    def baseline(self, key: str | None = None) -> Baseline:
        """The baseline of ``key``, else of the current identity; a missing one is a ConfigError."""
        from goldkeeper.quality.baseline import find_baseline  # noqa: PLC0415 - start-up (module doc)

        return find_baseline(self.baselines, key, None if key else self.identity())

    def gate(
        self,
        *,
        policy: Path | str | None = None,
        metrics: Sequence[Path | str] = (),
        directory: Path | str | None = None,
        retention_max_runs: int | None = None,
        retention_dry_run: bool = False,
        require_baseline: bool | None = None,
        record: bool = True,
        report: bool = True,
        output: Path | str | None = None,
        identity: RunIdentity | None = None,
        metrics_output: Path | str | None = None,
    ) -> GateResult:
        """Gate the metrics against the policy and the baseline, store the run, write the report."""
        from goldkeeper.quality.gate import rubric_thresholds  # noqa: PLC0415 - start-up (module doc)
        from goldkeeper.quality.gate_run import GateRequest, gate_and_record  # noqa: PLC0415 - start-up (module doc)
        from goldkeeper.quality.policy import load_policy  # noqa: PLC0415 - start-up (module doc)

        written = [self.output_path(p, given=True) if p is not None else None for p in (output, metrics_output)]
        trend = self.trend(self._output(directory, self.settings.report.dir))
        paths = self.metrics_paths(metrics)
        request = GateRequest(
            metrics_paths=paths,
            sources=[self.settings.display_path(p) for p in paths],
            policy=load_policy(self._given(policy) or self.settings.resolve(self.settings.gate.policy)),
            identity=identity or self.identity(metrics=paths),
            retention_max_runs=retention_max_runs,
            retention_dry_run=retention_dry_run,
            require_baseline=self.settings.gate.require_baseline if require_baseline is None else require_baseline,
            record=record,
            report=report,
            rubric=rubric_thresholds(self.settings.rubric),
        )
        result = gate_and_record(request, self.baselines, trend, self.settings.display_path, self.progress)
        for path, document in zip(written, (result.to_json(), result.metrics_json()), strict=True):
            if path is not None:
                write_json(path, document)
        return result

    def report(self, directory: Path | str | None = None) -> ReportFiles:
        """Re-render summary.json, summary.md and the dashboard from the stored runs."""
        from goldkeeper.quality.report import write_report  # noqa: PLC0415 - start-up (module doc)

        self._output(directory, self.settings.report.dir)  # inside the golden store: refused before anything is read
        return write_report(self.trend(directory, read=True), progress=self.progress)


from goldkeeper.project.standalone import (  # noqa: E402 - re-exported: operations that need no Project
    compare_per_query,
    evaluate_trec,
    json_schema,
    raise_for_conflicts,
    require_one_source,
)

__all__ = [
    "Project",
    "RetrievalRun",
    "GroundedRun",
    "evaluate_trec",
    "compare_per_query",
    "json_schema",
    "require_one_source",
    "raise_for_conflicts",
]
