"""The HTML dashboard in a real headless Chromium (Debian package `chromium`, see scripts/system-deps.sh).

Chromium loads the written index.html and dumps the DOM after parsing; the assertions read that DOM.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from goldkeeper.quality.baseline import BaselineStore, load_metrics
from goldkeeper.quality.gate import run_gate
from goldkeeper.quality.report import write_report
from goldkeeper.quality.trend import TrendStore
from quality_support import float_metrics, grounded, identity, policy, write_metrics

HOSTILE = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script> & </td>'
VOID = {"meta", "link", "br", "img", "input", "hr", "col", "area", "base", "source", "wbr", "embed", "track", "param"}


class Dom(HTMLParser):
    """The dumped DOM: every start tag, and the text content of every element with an id."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, str] = {}
        self._open: list[str | None] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in VOID:
            return
        ident = dict(attrs).get("id")
        if ident:
            self.text[ident] = ""
        self._open.append(ident)

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for ident in self._open:
            if ident:
                self.text[ident] += data

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]


def chromium_dom(page: Path, tmp_path: Path) -> tuple[str, Dom]:
    browser = shutil.which("chromium")
    if browser is None:
        pytest.fail("chromium is not installed: run `bash scripts/system-deps.sh` (make test does)")
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<html" in done.stdout
    return done.stdout, Dom(done.stdout)


def real_run(tmp_path: Path, prompt: str = "v1") -> TrendStore:
    """Two gated runs from eval-shaped metrics files: a baseline and a drifted one."""
    trend = TrendStore(tmp_path / "artifacts" / "evals")
    baselines = BaselineStore(tmp_path / "baselines")
    ident = identity(prompt=prompt)
    for i, values in enumerate([grounded(), grounded(faithfulness=0.8622, oldest_evidence_age_ratio=0.91)]):
        paths = write_metrics(tmp_path, grounded=values)
        if i == 0:
            baselines.record(ident, load_metrics(paths))
        run_gate(
            metrics_paths=paths,
            identity=ident,
            policy=policy(),
            baselines=baselines,
            trend=trend,
            retention_max_runs=200,
            now=datetime(2026, 11, 2, tzinfo=UTC) + timedelta(hours=i),
        )
    return trend


def test_dashboard_renders_the_metrics_of_a_real_run(tmp_path: Path) -> None:
    files = write_report(real_run(tmp_path))
    raw, dom = chromium_dom(files.index_html, tmp_path)
    assert dom.text["gate-status"] == "fail" and dom.text["review-priority"] == "regression"
    assert dom.text["sparkline"] == "!"
    assert "faithfulness dropped 0.0512 against the baseline" in dom.text["reasons"]
    assert dom.text["prompt-version"] == "v1" and dom.text["dataset-id"] == "squad-v2-dev-12"
    assert dom.text["model-version"].startswith("sentence-transformers/all-MiniLM-L6-v2@sha256:")
    metric_rows = {a["data-metric"] for a in dom.find("tr") if a.get("data-metric")}
    assert {"faithfulness", "citation_accuracy", "citation_freshness", "pass_rate", "hybrid.ndcg_cut_10"} <= metric_rows
    assert "0.8622" in dom.text["metrics"] and "0.9134" in dom.text["diff"]
    assert dom.text["aging-pressure"] == "yes" and dom.text["age-ratio"] == "0.9100"
    assert "citation_freshness_aging_pressure" in dom.text["warnings"]
    charted = {a["data-metric"] for a in dom.find("figure")}
    assert charted == set(float_metrics()) == metric_rows
    assert len(dom.find("svg")) == len(charted) and len(dom.find("polyline")) == len(charted)
    assert {a["data-severity"] for a in dom.find("tr") if a.get("data-severity")} == {"regression", "stable"}
    assert "retained 2" in dom.text["retention"]
    # self-contained: no script, no external resource
    assert dom.find("script") == [] and dom.find("link") == []
    assert "http://" not in raw.replace("http://www.w3.org/2000/svg", "") and "https://" not in raw


def test_dashboard_renders_the_empty_state(tmp_path: Path) -> None:
    files = write_report(TrendStore(tmp_path / "artifacts" / "evals"))
    _, dom = chromium_dom(files.index_html, tmp_path)
    assert dom.text["empty-state"].startswith("No eval runs yet")
    assert "metrics" not in dom.text and "trend" not in dom.text
    assert dom.find("title") is not None and dom.find("svg") == []


def test_dashboard_shows_record_text_with_html_as_text(tmp_path: Path) -> None:
    files = write_report(real_run(tmp_path, prompt=HOSTILE))
    raw, dom = chromium_dom(files.index_html, tmp_path)
    assert dom.text["prompt-version"] == HOSTILE
    assert dom.find("script") == [] and dom.find("img") == []
    assert "<title>AI eval dashboard: fail</title>" in raw  # no injected script ran


@pytest.mark.slow
def test_dashboard_of_a_real_grounded_eval_run(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`eval grounded` (responses file, real embedder) -> `baseline record` -> `gate` -> the page in Chromium."""
    import json

    from goldkeeper.cli import main
    from quality_support import POLICY_FILE, write_tiny_store

    write_tiny_store(project / "golden")
    policy_doc = json.loads(POLICY_FILE.read_text())  # the default policy without its retrieval rules
    del policy_doc["floors"]["hybrid.ndcg_cut_10"], policy_doc["maxHybridNdcgCut10Drop"]
    (project / "config").mkdir()
    (project / "config" / "regression-policy.json").write_text(json.dumps(policy_doc))
    (project / "params.yaml").write_text(
        "grounded:\n  as_of: '2026-11-01T00:00:00Z'\ngate:\n  metrics: [metrics/grounded.json]\n"
    )
    chunk_id, analysis_id = _tiny_ids()
    answer = {
        "query_id": "q1",
        "answer": "The Normans gave their name to Normandy.",
        "refused": False,
        "claims": [
            {
                "text": "The Normans gave their name to Normandy.",
                "citations": [
                    {
                        "chunk_id": chunk_id,
                        "analysis_id": analysis_id,
                        "source_url": "https://en.wikipedia.org/wiki/Normans",
                        "retrieved_at": "2026-10-01T00:00:00Z",
                    }
                ],
            }
        ],
    }
    (project / "answers.jsonl").write_text(json.dumps(answer) + "\n")
    monkeypatch.setenv("GOLDKEEPER_MODEL_VERSION", "answers-file-v1")
    for argv, expected in (
        (["eval", "grounded", "--answerer", "responses:answers.jsonl"], 0),
        (["baseline", "record"], 0),
        (["gate"], 0),
    ):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert (exited.value.code or 0) == expected, argv
    metrics = json.loads((project / "metrics" / "grounded.json").read_text())
    _, dom = chromium_dom(project / "artifacts" / "evals" / "index.html", project)
    assert dom.text["gate-status"] == "pass"
    rows = {a["data-metric"] for a in dom.find("tr") if a.get("data-metric")}
    assert {k for k, v in metrics.items() if isinstance(v, float)} == rows
    assert f"{metrics['faithfulness']:.4f}" in dom.text["metrics"]
    assert dom.text["model-version"] == "answers-file-v1" and dom.text["dataset-id"] == "tiny"


def _tiny_ids() -> tuple[str, str]:
    import uuid

    aid = uuid.uuid5(uuid.NAMESPACE_URL, "https://en.wikipedia.org/wiki/Normans")
    return str(uuid.uuid5(aid, "0")), str(aid)


def test_dashboard_first_screen_says_why_and_what_changed(tmp_path: Path) -> None:
    """A watch run (relevance -0.0137): the reasons, the severity counts, the changes, metrics worst first, and
    a trend chart with axes, values and the visible drop."""
    trend = TrendStore(tmp_path / "artifacts" / "evals")
    for i, values in enumerate([grounded(), grounded(relevance=0.7565)]):
        run_gate(
            metrics_paths=write_metrics(tmp_path, grounded=values),
            identity=identity(),
            policy=policy(),
            baselines=BaselineStore(tmp_path / "baselines"),
            trend=trend,
            retention_max_runs=200,
            now=datetime(2026, 11, 2, tzinfo=UTC) + timedelta(hours=i),
        )
    files = write_report(trend)
    raw, dom = chromium_dom(files.index_html, tmp_path)
    assert dom.text["review-priority"] == "watch"
    assert dom.text["review-reasons"] == "worse than the previous run: relevance 0.7702 -> 0.7565 (-0.0137, watch)"
    assert dom.text["severity-counts"].split(": ", 1)[1].split() == [
        "regression",
        "0",
        "watch",
        "1",
        "improved",
        "0",
        "stable",
        "0",
    ]
    assert dom.text["changes"] == "What changed (latest vs previous)relevance 0.7702 -> 0.7565 (-0.0137, watch)"
    sections = [a["id"] for a in dom.find("section")]
    assert sections[:3] == ["status", "changes", "metrics"]
    rows = [a["data-metric"] for a in dom.find("tr") if a.get("data-metric")]
    metric_rows = rows[: len(float_metrics())]
    assert metric_rows[0] == "relevance" and metric_rows[1:] == sorted(metric_rows[1:])
    charts = [a["data-metric"] for a in dom.find("figure")]
    assert charts[0] == "relevance"
    relevance_chart = raw.split('<figure data-metric="relevance">', 1)[1].split("</figure>", 1)[0]
    assert "last change -0.0137" in relevance_chart
    assert ">0.7702</text>" in relevance_chart and ">0.7565</text>" in relevance_chart
    assert relevance_chart.count('class="axis"') == 2 and relevance_chart.count('class="tick"') == 3
    # the drop spans most of the value axis, not a pixel of a 0..1 axis
    ys = [float(p.split(",")[1]) for p in relevance_chart.split('points="', 1)[1].split('"', 1)[0].split()]
    assert ys[1] - ys[0] > 50
