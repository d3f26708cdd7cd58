"""One set of extractive defaults (issue 14, point 6): GroundedParams, `init`'s template and this project's
params.yaml agree, and the benchmark that chose them reports both halves in benchmarks/README.md."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from goldkeeper.config.sections import GroundedParams
from goldkeeper.scaffold.init import render_template

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("semantic_weight", "refusal_threshold")


def test_template_project_and_model_defaults_agree() -> None:
    defaults = {k: getattr(GroundedParams(), k) for k in KEYS}
    template = yaml.safe_load(render_template("params.yaml"))["grounded"]
    project = yaml.safe_load((ROOT / "params.yaml").read_text())["grounded"]
    assert {k: template[k] for k in KEYS} == defaults == {k: project[k] for k in KEYS}


def test_the_benchmark_results_report_both_halves_for_the_defaults() -> None:
    text = (ROOT / "benchmarks" / "README.md").read_text()
    block = re.search(r"<!-- results:extractive-defaults -->\n(.*?)<!-- /results:extractive-defaults -->", text, re.S)
    assert block is not None
    defaults = GroundedParams()
    chosen = f"| chosen | {defaults.semantic_weight:g} | {defaults.refusal_threshold:g} |"
    rows = [line for line in block.group(1).splitlines() if line.startswith(chosen)]
    assert [row.split(" | ")[3] for row in rows] == ["tuning", "held-out"]
