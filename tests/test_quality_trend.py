"""Trend history and retention: index pruning, orphaned JSON deleted, operator notes preserved, dry-run."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from goldkeeper.errors import ConfigError, DataIntegrityError
from goldkeeper.quality.baseline import BaselineStore
from goldkeeper.quality.gate import run_gate
from goldkeeper.quality.report import build_summary
from goldkeeper.quality.trend import DEFAULT_RETENTION, RETENTION_ENV, TrendStore, retention_limit
from quality_support import grounded, identity, policy, write_metrics

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def record_runs(tmp_path: Path, n: int, max_runs: int = 100) -> TrendStore:
    trend = TrendStore(tmp_path / "artifacts" / "evals")
    for i in range(n):
        paths = write_metrics(tmp_path, grounded=grounded(faithfulness=0.90 + i / 1000))
        run_gate(
            metrics_paths=paths,
            identity=identity(),
            policy=policy(),
            baselines=BaselineStore(tmp_path / "baselines"),
            trend=trend,
            retention_max_runs=max_runs,
            now=T0 + timedelta(minutes=i),
        )
    return trend


def test_runs_are_timestamped_files_in_the_index(tmp_path: Path) -> None:
    trend = record_runs(tmp_path, 3)
    index = json.loads(trend.index_path.read_text())
    assert [r["id"] for r in index["runs"]] == [
        "20261101T120000.000000Z",
        "20261101T120100.000000Z",
        "20261101T120200.000000Z",
    ]
    assert [p.name for p in sorted(trend.runs_dir.iterdir())] == [f"{r['id']}.json" for r in index["runs"]]
    assert index["runs"][1]["file"] == "runs/20261101T120100.000000Z.json" and index["runs"][1]["status"] == "pass"


def test_retention_delete_mode(tmp_path: Path) -> None:
    trend = record_runs(tmp_path, 5)
    (trend.runs_dir / "NOTES.md").write_text("operator notes: run 3 was on a degraded host\n")
    (trend.runs_dir / "stray-old-run.json").write_text("{}\n")
    report = trend.apply_retention(2)
    assert (report.mode, report.max_runs, report.retained, report.orphaned, report.deleted, report.preserved) == (
        "delete",
        2,
        2,
        4,
        4,
        1,
    )
    assert sorted(p.name for p in trend.runs_dir.iterdir()) == [
        "20261101T120300.000000Z.json",
        "20261101T120400.000000Z.json",
        "NOTES.md",
    ]
    index = json.loads(trend.index_path.read_text())
    assert [r["id"] for r in index["runs"]] == ["20261101T120300.000000Z", "20261101T120400.000000Z"]
    assert index["retention"]["deleted"] == 4 and index["retention"]["preservedFiles"] == ["NOTES.md"]


def test_retention_dry_run_mode_changes_nothing(tmp_path: Path) -> None:
    trend = record_runs(tmp_path, 4)
    (trend.runs_dir / "notes.txt").write_text("keep me\n")
    before = sorted(p.name for p in trend.runs_dir.iterdir())
    report = trend.apply_retention(1, dry_run=True)
    assert (report.mode, report.retained, report.orphaned, report.deleted, report.preserved) == ("dry-run", 1, 3, 0, 1)
    assert report.orphaned_files == before[:3]
    assert sorted(p.name for p in trend.runs_dir.iterdir()) == before
    assert len(trend.index()["runs"]) == 4 and trend.index()["retention"]["mode"] == "dry-run"


def test_gate_applies_retention_after_each_run(tmp_path: Path) -> None:
    trend = record_runs(tmp_path, 4, max_runs=3)
    assert [r["id"] for r in trend.runs()] == [
        "20261101T120100.000000Z",
        "20261101T120200.000000Z",
        "20261101T120300.000000Z",
    ]
    assert len(trend.runs()) == 3 and len(list(trend.runs_dir.glob("*.json"))) == 3
    assert trend.index()["retention"]["retained"] == 3


def test_retention_limit_sources() -> None:
    assert retention_limit(None, env={}) == DEFAULT_RETENTION == 200
    assert retention_limit(None, env={RETENTION_ENV: "7"}) == 7
    assert retention_limit(3, env={RETENTION_ENV: "7"}) == 3
    with pytest.raises(ConfigError, match=f"{RETENTION_ENV}: must be a whole number, got 'many'"):
        retention_limit(None, env={RETENTION_ENV: "many"})
    with pytest.raises(ConfigError, match=f"{RETENTION_ENV}: must be at least 1"):
        retention_limit(None, env={RETENTION_ENV: "0"})
    with pytest.raises(ConfigError, match="--retention-max-runs must be at least 1"):
        retention_limit(0, env={})


def test_a_report_while_gates_write_sees_each_gate_whole(tmp_path: Path) -> None:
    # report and serve read the index, then each run it names, without the gate's lock: between a gate's two
    # index writes a summary had one run more than its retention kept (a quarter of the reads: "3 runs, retained
    # 2"), and a run file pruned after its index was read failed the report ("eval run not found", serve a 500)
    trend = record_runs(tmp_path, 3, max_runs=2)
    paths, stop = write_metrics(tmp_path), time.monotonic() + 0.6
    seen: list[str] = []
    counts = {"gates": 0, "reads": 0}

    def gates() -> None:
        while time.monotonic() < stop:
            baselines = BaselineStore(tmp_path / "baselines")
            run_gate(
                metrics_paths=paths,
                identity=identity(),
                policy=policy(),
                baselines=baselines,
                trend=trend,
                retention_max_runs=2,
            )
            counts["gates"] += 1

    writer = threading.Thread(target=gates)
    writer.start()
    while time.monotonic() < stop:
        try:
            summary = build_summary(TrendStore(trend.root))
        except DataIntegrityError as exc:
            seen.append(str(exc))
        else:
            if summary["runCount"] != summary["retention"]["retained"]:
                seen.append(f"{summary['runCount']} runs, retained {summary['retention']['retained']}")
        counts["reads"] += 1
    writer.join()
    assert min(counts.values()) > 5 and seen == [], (counts, seen[:3])
