"""Judges decide whether a claim is supported by the evidence it cites (params.yaml ``grounded.judge``).

``aligned`` (default, offline, :mod:`.aligned`)
    Lexical support within one evidence sentence, rejecting changed numbers,
    flipped negations and entities the evidence attaches to something else.
``lexical`` (offline, :mod:`.lexical`)
    The original bag-of-words share of the claim's content words in the evidence.
``command:PROGRAM`` (:mod:`.command`)
    An external judge (an LLM-as-judge or NLI service): claim/evidence pairs as
    JSON lines on stdin, verdicts as JSON lines on stdout, batched, with a timeout.
``nli`` (:mod:`.nli`)
    A local ONNX cross-encoder folder (``grounded.judge_model_path``), loaded offline.

Every judge has ``identity`` (name, model, threshold), part of the baseline identity.
"""

from __future__ import annotations

from pathlib import Path

from goldkeeper.evals.judges.aligned import AlignedJudge
from goldkeeper.evals.judges.base import (
    LABELS,
    STOP_WORDS,
    Judge,
    Label,
    Verdict,
    content_tokens,
    split_sentences,
    stem,
)
from goldkeeper.evals.judges.command import CommandJudge
from goldkeeper.evals.judges.lexical import LexicalJudge
from goldkeeper.evals.judges.nli import NliJudge

JUDGES: dict[str, type[AlignedJudge] | type[LexicalJudge]] = {"aligned": AlignedJudge, "lexical": LexicalJudge}


def make_judge(
    name: str,
    threshold: float | None = None,
    *,
    model_path: Path | None = None,
    cwd: Path | None = None,
    batch_size: int = 64,
    timeout_s: float = 300.0,
) -> Judge:
    """The judge called ``name``: ``aligned``, ``lexical``, ``nli`` or ``command:PROGRAM``.

    ``threshold`` None is the judge's own default. A ValueError names what is wrong.
    """
    kind, _, arg = name.partition(":")
    if kind == "command" and arg.strip():
        return CommandJudge(arg, threshold, cwd=cwd or Path.cwd(), batch_size=batch_size, timeout_s=timeout_s)
    if name == "nli":
        if model_path is None:
            raise ValueError("judge nli needs grounded.judge_model_path (a local ONNX cross-encoder folder)")
        return NliJudge(model_path, threshold, batch_size=batch_size)
    try:
        factory = JUDGES[name]
    except KeyError:
        known = ", ".join([*sorted(JUDGES), "nli", "command:PROGRAM"])
        raise ValueError(f"unknown judge {name!r} (known: {known})") from None
    return factory(threshold)


__all__ = [
    "LABELS",
    "Label",
    "STOP_WORDS",
    "stem",
    "content_tokens",
    "split_sentences",
    "Verdict",
    "Judge",
    "LexicalJudge",
    "AlignedJudge",
    "CommandJudge",
    "NliJudge",
    "JUDGES",
    "make_judge",
]
