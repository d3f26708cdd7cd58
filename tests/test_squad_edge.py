"""SQuAD scoring edge (issue 14 point 7): references that normalise to "" are dropped, as the official v2.0 script does.

Expected values are computed by hand from the official script (evaluate-v2.0.py):
``gold_answers = [a['text'] for a in qa['answers'] if normalize_answer(a['text'])]``, ``[""]`` when none is
left, then ``max(compute_exact / compute_f1 over gold_answers)``; ``compute_f1`` returns
``int(gold_toks == pred_toks)`` when either side has no token.
"""

from __future__ import annotations

import pytest

from goldkeeper.evals.squad import exact_match, f1_score


def test_an_empty_normalising_reference_no_longer_matches_a_punctuation_prediction() -> None:
    # official: gold = ["Rollo"]; "." normalises to "" -> EM 0, F1 int([] == ["rollo"]) = 0 (was 1/1)
    assert exact_match(".", [".", "Rollo"]) == 0.0
    assert f1_score(".", [".", "Rollo"]) == 0.0
    assert exact_match(".", ["the", "Rollo"]) == 0.0


def test_only_empty_normalising_references_become_the_empty_answer() -> None:
    # official: gold = [] -> [""]; "." normalises to "" -> EM 1, F1 1; "Rollo" -> 0/0
    assert exact_match(".", ["."]) == 1.0 and f1_score(".", ["."]) == 1.0
    assert exact_match("Rollo", ["."]) == 0.0 and f1_score("Rollo", ["."]) == 0.0


def test_the_non_empty_references_still_score_as_before() -> None:
    # official: gold = ["Rollo", "the Viking Rollo"]; F1("Rollo", "viking rollo") = 2/3, max with EM match = 1
    assert exact_match("Rollo", [".", "Rollo", "the Viking Rollo"]) == 1.0
    # "a Viking": pred ["viking"], gold ["viking", "rollo"] -> P 1, R 1/2 -> F1 2/3
    assert f1_score("a Viking", ["!", "the Viking Rollo"]) == pytest.approx(2 / 3)
