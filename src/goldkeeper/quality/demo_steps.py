"""The demo's last two steps: ``gate`` (baseline + regression gate) and ``report`` (summary + dashboard).

They run after the eval steps of :mod:`goldkeeper.demo`, inside the demo home (``.goldkeeper/demo``):
the metrics of the eval steps, a baseline in ``<home>/baselines`` recorded from them on a fresh
demo, the run history and the dashboard in ``<home>/artifacts/evals``. The project's own
baselines/ and artifacts/ are never written. A failed gate is reported, not raised: the demo
shows the verdict.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import EvalError
from . import GateParams
from .baseline import BaselineStore, PromptParams, RunIdentity, answerer_identity, write_json
from .gate import run_gate
from .policy import RegressionPolicy, load_policy, parse_policy
from .report import write_report
from .trend import TrendStore, retention_limit

METRIC_FILE_KEYS = ("metrics_file", "metrics_path", "out")


def _metrics_files(ctx: Any) -> list[Path]:
    """The metrics files of the eval steps: a ``.json`` file their data names, or their ``metrics`` written out."""
    found: list[Path] = []
    for name, data in ctx.results.items():
        if not isinstance(data, dict):
            continue
        named = next((data[k] for k in METRIC_FILE_KEYS if isinstance(data.get(k), str) and data[k].endswith(".json")), None)
        if named is not None and ctx.settings.resolve(named).is_file():
            found.append(ctx.settings.resolve(named))
        elif isinstance(data.get("metrics"), dict) and any(isinstance(v, float) for v in data["metrics"].values()):
            path = ctx.home / "metrics" / f"{name}.json"
            write_json(path, data["metrics"])
            found.append(path)
    if not found:
        raise EvalError(
            "demo gate: no eval metrics to gate (no earlier step reported a metrics file or a metrics mapping)"
        )
    return found


def _policy(ctx: Any) -> RegressionPolicy:
    path = ctx.settings.resolve(ctx.settings.section("gate", GateParams).policy)
    if path.is_file():
        return load_policy(path)
    import json

    text = resources.files("goldkeeper").joinpath("templates/regression-policy.json").read_text(encoding="utf-8")
    return parse_policy(json.loads(text), source="goldkeeper/templates/regression-policy.json")


def _identity(ctx: Any) -> RunIdentity:
    import os

    from .baseline import MODEL_VERSION_ENV, PROMPT_VERSION_ENV

    model = os.environ.get(MODEL_VERSION_ENV) or f"{ctx.embedder.model_id}+{answerer_identity(ctx.settings)}"
    prompt = os.environ.get(PROMPT_VERSION_ENV) or ctx.settings.section("prompt", PromptParams).version
    return RunIdentity(
        datasetId=ctx.dataset or "unknown", datasetVersion=ctx.version or "unknown", modelVersion=model, promptVersion=prompt
    )


def gate_step(ctx: Any) -> Any:
    """Record the demo's baseline on first use, then gate the eval metrics against it and the floors."""
    from ..demo import StepResult

    paths = _metrics_files(ctx)
    identity = _identity(ctx)
    baselines = BaselineStore(ctx.home / "baselines")
    recorded = baselines.get(identity) is None
    if recorded:
        from .baseline import load_metrics

        baselines.record(identity, load_metrics(paths), [str(p) for p in paths])
    trend = TrendStore(ctx.home / "artifacts" / "evals")
    outcome = run_gate(
        metrics_paths=paths,
        identity=identity,
        policy=_policy(ctx),
        baselines=baselines,
        trend=trend,
        retention_max_runs=retention_limit(None),
    )
    result = outcome.result
    verdict = "PASS" if outcome.passed else "FAIL"
    detail = "; ".join(r["message"] for r in result["reasons"][:3])
    summary = (
        f"{verdict} (review priority {result['reviewPriority']}; baseline {identity.key}"
        f"{' recorded' if recorded else ''})" + (f": {detail}" if detail else "")
    )
    return StepResult(summary, {"status": result["status"], "runId": outcome.run["id"], "reasons": result["reasons"]})


def report_step(ctx: Any) -> Any:
    """Write summary.md, summary.json and the dashboard; the summary line says where it is."""
    from ..demo import StepResult

    files = write_report(TrendStore(ctx.home / "artifacts" / "evals"))
    return StepResult(
        f"dashboard: {files.index_html} (summary: {files.summary_md}; serve it with "
        f"`goldkeeper serve --dir {files.index_html.parent}`)",
        {"dashboard": str(files.index_html), "summary": str(files.summary_md), "status": files.summary["status"]},
    )
