"""The regression policy is validated strictly: one test per malformed rule, each naming the bad key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from goldkeeper.errors import ConfigError
from goldkeeper.quality.policy import drop_key, load_policy, parse_policy, pascal
from quality_support import POLICY_FILE, float_metrics, policy_data


def without(key: str) -> dict[str, Any]:
    data = policy_data()
    del data[key]
    return data


def changed(**changes: Any) -> dict[str, Any]:
    return {**policy_data(), **changes}


def test_default_policy_is_valid() -> None:
    loaded = load_policy(POLICY_FILE)
    assert loaded.floors["citation_accuracy"] == 0.4 and loaded.floors["hybrid.ndcg_cut_10"] == 0.7
    assert loaded.drop_limit("hybrid.ndcg_cut_10") == 0.02
    assert loaded.drop_limit("citation_accuracy") == 0.02
    assert loaded.fail_fast_on_citation_drift and loaded.fail_fast_on_citation_freshness_drift
    assert loaded.diff_severity_policy.watch < loaded.diff_severity_policy.regression
    assert loaded.severity_history_policy.max_comparisons == 20
    assert not loaded.higher_is_better("oldest_evidence_age_ratio")
    loaded.check_metrics(float_metrics())


def test_metric_names_in_pascal_case() -> None:
    assert pascal("hybrid.ndcg_cut_10") == "HybridNdcgCut10"
    assert drop_key("citation_accuracy") == "maxCitationAccuracyDrop"
    loaded = parse_policy(changed(maxHybridNdcgCut10Drop=0.01))
    assert loaded.drop_limit("hybrid.ndcg_cut_10") == 0.01


MALFORMED: list[tuple[str, Any, str]] = [
    ("not-an-object", [1, 2], "must be a JSON object"),
    ("unknown-top-level-key", changed(floor={"faithfulness": 0.7}), "floor: unknown key"),
    (
        "unknown-nested-key",
        changed(diffSeverityPolicy={"watch": 0.005, "regression": 0.02, "improved": 0.005, "critical": 0.1}),
        "diffSeverityPolicy.critical: unknown key",
    ),
    ("floors-missing", without("floors"), "floors: required key is missing"),
    ("floors-not-an-object", changed(floors=[0.7]), "floors:"),
    ("floor-out-of-range", changed(floors={"faithfulness": 1.5}), "'faithfulness' must be a number from 0 to 1"),
    ("floor-not-a-number", changed(floors={"faithfulness": "0.7"}), "floors.faithfulness"),
    ("floor-empty-metric-name", changed(floors={" ": 0.5}), "floors: a floor needs a metric name"),
    ("drop-out-of-range", changed(maxFaithfulnessDrop=2), "maxFaithfulnessDrop: must be a number from 0 to 1"),
    ("drop-negative", changed(maxRelevanceDrop=-0.1), "maxRelevanceDrop: must be a number from 0 to 1"),
    ("drop-not-a-number", changed(maxPassRateDrop="0.03"), "maxPassRateDrop: Input should be a valid number"),
    ("drop-key-misspelled", changed(maxfaithfulnessDrop=0.03), "maxfaithfulnessDrop: unknown key"),
    ("drops-mapping-not-allowed", changed(drops={"Faithfulness": 0.03}), "unknown key 'drops'"),
    (
        "fail-fast-citation-not-boolean",
        changed(failFastOnCitationDrift="yes"),
        "failFastOnCitationDrift: Input should be a valid boolean",
    ),
    (
        "fail-fast-freshness-not-boolean",
        changed(failFastOnCitationFreshnessDrift=1),
        "failFastOnCitationFreshnessDrift: Input should be a valid boolean",
    ),
    (
        "fail-fast-citation-without-limit",
        without("maxCitationAccuracyDrop"),
        "failFastOnCitationDrift is true but maxCitationAccuracyDrop is not set",
    ),
    (
        "fail-fast-freshness-without-limit",
        without("maxCitationFreshnessDrop"),
        "failFastOnCitationFreshnessDrift is true but maxCitationFreshnessDrop is not set",
    ),
    ("severity-policy-missing", without("diffSeverityPolicy"), "diffSeverityPolicy: required key is missing"),
    (
        "severity-threshold-missing",
        changed(diffSeverityPolicy={"watch": 0.005, "regression": 0.02}),
        "diffSeverityPolicy.improved: required key is missing",
    ),
    (
        "severity-order",
        changed(diffSeverityPolicy={"watch": 0.05, "regression": 0.02, "improved": 0.005}),
        "diffSeverityPolicy: watch (0.05) must be smaller than regression (0.02)",
    ),
    (
        "severity-threshold-equal",
        changed(diffSeverityPolicy={"watch": 0.02, "regression": 0.02, "improved": 0.005}),
        "watch (0.02) must be smaller than regression (0.02)",
    ),
    (
        "severity-threshold-not-positive",
        changed(diffSeverityPolicy={"watch": 0.005, "regression": 0.02, "improved": 0}),
        "diffSeverityPolicy.improved: Input should be greater than 0",
    ),
    ("severity-policy-not-an-object", changed(diffSeverityPolicy=0.02), "diffSeverityPolicy:"),
    ("history-policy-missing", without("severityHistoryPolicy"), "severityHistoryPolicy: required key is missing"),
    (
        "history-max-comparisons-missing",
        changed(severityHistoryPolicy={}),
        "severityHistoryPolicy.maxComparisons: required key is missing",
    ),
    (
        "history-max-comparisons-zero",
        changed(severityHistoryPolicy={"maxComparisons": 0}),
        "severityHistoryPolicy.maxComparisons: Input should be greater than or equal to 1",
    ),
    (
        "history-max-comparisons-not-integer",
        changed(severityHistoryPolicy={"maxComparisons": 2.5}),
        "severityHistoryPolicy.maxComparisons: Input should be a valid integer",
    ),
    (
        "history-max-comparisons-boolean",
        changed(severityHistoryPolicy={"maxComparisons": True}),
        "severityHistoryPolicy.maxComparisons: Input should be a valid integer",
    ),
    ("aging-missing", without("citationFreshnessAging"), "citationFreshnessAging: required key is missing"),
    (
        "aging-threshold-not-positive",
        changed(citationFreshnessAging={"threshold": 0}),
        "citationFreshnessAging.threshold: Input should be greater than 0",
    ),
    (
        "lower-is-better-not-a-list",
        changed(lowerIsBetter="oldest_evidence_age_ratio"),
        "lowerIsBetter: Input should be a valid list",
    ),
    ("lower-is-better-empty-name", changed(lowerIsBetter=[""]), "lowerIsBetter: metric names must not be empty"),
]


@pytest.mark.parametrize(("data", "expected"), [(d, e) for _, d, e in MALFORMED], ids=[i for i, _, _ in MALFORMED])
def test_malformed_policy_is_an_error_naming_the_key(data: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_policy(data, source="config/regression-policy.json")
    assert str(caught.value).startswith("config/regression-policy.json: ")
    assert expected in str(caught.value)


def test_every_bad_key_is_reported_at_once() -> None:
    data = changed(floors={"faithfulness": 3}, severityHistoryPolicy={"maxComparisons": 0}, bogus=1)
    with pytest.raises(ConfigError) as caught:
        parse_policy(data, source="p.json")
    message = str(caught.value)
    assert "floors" in message and "severityHistoryPolicy.maxComparisons" in message and "bogus: unknown key" in message


def test_policy_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="regression policy file not found"):
        load_policy(tmp_path / "missing.json")


def test_policy_file_not_json(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text("{floors: }")
    with pytest.raises(ConfigError, match=r"p\.json: not valid JSON"):
        load_policy(path)


def test_policy_file_duplicate_key(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(
        POLICY_FILE.read_text().replace('"maxRelevanceDrop": 0.05', '"maxRelevanceDrop": 0.05, "maxRelevanceDrop": 0.5')
    )
    with pytest.raises(ConfigError, match="duplicate key 'maxRelevanceDrop'"):
        load_policy(path)


def test_policy_file_with_a_byte_order_mark_is_read_and_one_not_utf8_is_one_line(tmp_path: Path) -> None:
    """A Windows editor's BOM was `not valid JSON: Unexpected UTF-8 BOM` (exit 3); a Latin-1 byte an internal error."""
    path = tmp_path / "p.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(policy_data()).encode())
    assert load_policy(path).floors == policy_data()["floors"]
    path.write_bytes(b'{"floors": {"caf\xe9": 0.5}}')
    with pytest.raises(ConfigError, match=r"p\.json: not UTF-8 text \(byte 0xe9 at offset 16\)"):
        load_policy(path)


def test_policy_file_nan_rejected(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps(policy_data()).replace('"maxRelevanceDrop": 0.05', '"maxRelevanceDrop": NaN'))
    with pytest.raises(ConfigError, match="NaN is not allowed"):
        load_policy(path)


def test_floor_for_a_metric_the_run_lacks_is_an_error() -> None:
    loaded = parse_policy(changed(floors={"faithfulnes": 0.7}))
    with pytest.raises(ConfigError, match=r"floors\.faithfulnes: no metric 'faithfulnes' in the current run"):
        loaded.check_metrics({"faithfulness": 0.9, "citation_accuracy": 0.9, "citation_freshness": 0.9})


def test_drop_for_a_metric_the_run_lacks_is_an_error() -> None:
    loaded = parse_policy(changed(maxHybridNdcgCut5Drop=0.01))
    with pytest.raises(ConfigError, match="maxHybridNdcgCut5Drop: no metric named 'HybridNdcgCut5'"):
        loaded.check_metrics(float_metrics())


def test_the_init_template_policy_is_valid() -> None:
    """`goldkeeper init` writes this file (and the demo falls back to it): it must pass the same validation."""
    from importlib import resources

    text = (
        resources.files("goldkeeper.scaffold").joinpath("templates/regression-policy.json").read_text(encoding="utf-8")
    )
    loaded = parse_policy(json.loads(text), source="templates/regression-policy.json")
    assert loaded.floors and loaded.diff_severity_policy.watch < loaded.diff_severity_policy.regression
