"""The demo's steps: each one call into the :class:`~goldkeeper.project.Project`, outputs under the demo home.

1. ``restore``: the project's golden store into the empty database, every chunk
   embedded; without a golden store, the bundled SQuAD sample is imported and
   dumped to ``<home>/golden``;
2. ``verify``: the file contracts of that store and the database contracts;
3. ``eval_retrieval`` and 4. ``eval_grounded`` (the first ``grounded.demo_limit``
   queries): metrics under ``<home>/metrics``;
5. ``gate``: a baseline in ``<home>/baselines`` recorded from the metrics on a
   fresh demo, then the regression gate; a failed gate is reported, not raised;
6. ``report``: summary and dashboard in ``<home>/artifacts/evals``.

The project's own baselines/, artifacts/, metrics/ and reports/ are never written.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from goldkeeper.demo.context import DemoContext, StepResult
from goldkeeper.errors import EvalError, VerificationFailed
from goldkeeper.fileio import write_json
from goldkeeper.quality.baseline import load_metrics
from goldkeeper.store import MANIFEST, open_store

if TYPE_CHECKING:  # psycopg (start-up: project module doc)
    from goldkeeper.dataset.restore import RestoreReport

#: keys of an earlier step's data that name its metrics file
METRIC_FILE_KEYS = ("metrics_file", "metrics_path", "out")


def shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) + "/"
    except ValueError:
        return str(path)


def restore_step(ctx: DemoContext) -> StepResult:
    """Restore golden/ (or import the bundled SQuAD sample) into the fresh database."""
    project, settings = ctx.project, ctx.settings
    if (settings.store_path / MANIFEST).is_file():
        report = project.restore()
        ctx.store_path = settings.store_path
        origin = shown(settings.store_path, settings.root)
    else:
        report = project.import_squad(None)
        ctx.store_path = ctx.output("golden")
        project.dump(out=ctx.store_path)
        # an import records no store version: restoring what was just dumped records it (every record skipped),
        # else verify --db warned and the evals' metrics were labelled with dataset version null
        project.restore(source=ctx.store_path)
        origin = f"the bundled SQuAD sample (dumped to {ctx.store_path})"
    return restored(ctx, report, origin, "database")


def restored(ctx: DemoContext, report: RestoreReport, origin: str, into: str) -> StepResult:
    """Record the restored store (``ctx.store_path``) in the context; the restore step's result."""
    assert ctx.store_path is not None
    store = open_store(ctx.store_path)
    ctx.dataset, ctx.version, ctx.counts = store.manifest.dataset, store.version, dict(store.manifest.counts)
    added = report.analyses.counts()["added"], report.queries.counts()["added"]
    summary = (
        f"{origin} -> {into}: {added[0]} analyses ({ctx.counts.get('chunks', 0)} chunks), {added[1]} queries; "
        f"{report.chunks_embedded} chunks embedded ({report.embeddings_computed} computed, "
        f"{report.embeddings_cached} from the cache)"
    )
    return StepResult(summary, report.to_json(ids=False))


def verify_step(ctx: DemoContext) -> StepResult:
    """The file contracts of the restored store and the database contracts; raises when invalid."""
    assert ctx.store_path is not None, "the verify step needs the restore step first"
    report = ctx.project.verify(ctx.store_path, db=True)
    if not report.ok():
        raise VerificationFailed(
            report.summary() + ": " + "; ".join(i.render() for i in report.errors[:5]), report=report
        )
    checked = dict(report.checked)
    summary = (
        f"files and database: valid, {len(report.errors)} error(s), {len(report.warnings)} warning(s) "
        f"({checked.get('shards', 0)} shards, {checked.get('db chunks', 0)} chunks in the database)"
    )
    return StepResult(summary, {"valid": True, "errors": 0, "warnings": len(report.warnings), "checked": checked})


def retrieval_step(ctx: DemoContext) -> StepResult:
    """The retrieval eval in every mode on the demo database."""
    out = ctx.output("metrics", "retrieval.json")
    run = ctx.project.eval_retrieval(
        out=out,
        per_query=ctx.output("reports", "retrieval-per-query.json"),
        trec_dir=ctx.output("reports"),
        plots_dir=ctx.output("reports", "retrieval-plots"),
    )
    result, k = run.result, run.result.k
    parts = ", ".join(
        f"{m.mode} nDCG@{k} {m.report.summary[f'ndcg_cut_{k}']:.3f} pass@{k} {m.report.summary[f'success_{k}']:.3f}"
        for m in result.modes
    )
    summary = f"{result.evaluated} queries ({result.excluded_refusal} refusals excluded): {parts}"
    return StepResult(summary, {"metrics_file": str(out), "metrics": result.metrics()})


def grounded_step(ctx: DemoContext) -> StepResult:
    """The grounded eval with the configured answerer, on the first ``grounded.demo_limit`` queries."""
    from goldkeeper.evals.grounded import summary_line  # noqa: PLC0415 - start-up: numpy (project module doc)

    run = ctx.project.eval_grounded(
        limit=ctx.settings.grounded.demo_limit,
        store_path=ctx.store_path,
        out=ctx.output("metrics", "grounded.json"),
        per_case=ctx.output("reports", "grounded-per-case.json"),
    )
    return StepResult(summary_line(run.report), {"metrics_file": str(run.out), "metrics": run.report.metrics})


def _metrics_files(ctx: DemoContext) -> list[Path]:
    """The metrics files of the eval steps: a ``.json`` file their data names, or their ``metrics`` written out."""
    found: list[Path] = []
    for name, data in ctx.results.items():
        if not isinstance(data, dict):
            continue
        named = next(
            (data[k] for k in METRIC_FILE_KEYS if isinstance(data.get(k), str) and data[k].endswith(".json")), None
        )
        if named is not None and ctx.settings.resolve(named).is_file():
            found.append(ctx.settings.resolve(named))
        elif isinstance(data.get("metrics"), dict) and any(isinstance(v, float) for v in data["metrics"].values()):
            path = ctx.output("metrics", f"{name}.json")
            write_json(path, data["metrics"])
            found.append(path)
    if not found:
        raise EvalError(
            "demo gate: no eval metrics to gate (no earlier step reported a metrics file or a metrics mapping)"
        )
    return found


def _policy_path(ctx: DemoContext) -> Path:
    """The project's regression policy, else the one ``goldkeeper init`` writes."""
    path = ctx.settings.resolve(ctx.settings.gate.policy)
    if path.is_file():
        return path
    return Path(str(resources.files("goldkeeper.scaffold").joinpath("templates", "regression-policy.json")))


def gate_step(ctx: DemoContext) -> StepResult:
    """Record the demo's baseline on first use, then gate the eval metrics against it and the floors."""
    project = ctx.project
    paths = _metrics_files(ctx)
    store = open_store(ctx.store_path) if ctx.store_path is not None else None
    identity = project.identity(store=store, metrics=paths)
    recorded = project.baselines.get(identity) is None
    if recorded:
        project.baselines.record(identity, load_metrics(paths), [str(p) for p in paths])
    result = project.gate(policy=_policy_path(ctx), metrics=paths, identity=identity, report=False)
    verdict = result.verdict
    detail = "; ".join(r["message"] for r in verdict["reasons"][:3])
    summary = (
        f"{'PASS' if result.passed else 'FAIL'} (review priority {verdict['reviewPriority']}; baseline {identity.key}"
        f"{' recorded' if recorded else ''})" + (f": {detail}" if detail else "")
    )
    return StepResult(
        summary, {"status": verdict["status"], "runId": result.outcome.run["id"], "reasons": verdict["reasons"]}
    )


def report_step(ctx: DemoContext) -> StepResult:
    """Write summary.md, summary.json and the dashboard; the summary line says where it is."""
    files = ctx.project.report()
    return StepResult(
        f"dashboard: {files.index_html} (summary: {files.summary_md}; serve it with "
        f"`goldkeeper serve --dir {files.index_html.parent}`)",
        {"dashboard": str(files.index_html), "summary": str(files.summary_md), "status": files.summary["status"]},
    )


__all__ = [
    "shown",
    "restored",
    "restore_step",
    "verify_step",
    "retrieval_step",
    "grounded_step",
    "gate_step",
    "report_step",
]
