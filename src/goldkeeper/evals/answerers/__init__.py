"""Answerers: the system under test of ``eval grounded``. Each turns prompts into responses.

Named by a spec (params.yaml ``grounded.answerer`` or ``--answerer``), built by :func:`make_answerer`:

``extractive``
    The built-in cite-or-refuse baseline (:mod:`.extractive`). Retrieves the
    ``top_k`` chunks for the prompt with the configured retrieval mode
    (``retrieval:`` params, database search, :mod:`.retriever`), splits them
    into sentences and scores each sentence by the IDF-weighted share of the
    prompt's content words it contains. The evidence score is the best
    sentence's score; below ``grounded.refusal_threshold`` it refuses,
    otherwise it answers with the best ``max_sentences`` sentences, one claim
    each, citing the chunk id, analysis id, entity id, source URL, property
    path and retrieval time.
``command:PROGRAM``
    Runs PROGRAM (split like a shell command line, run in the project
    directory) once per batch of ``grounded.batch_size`` prompts: prompts as
    JSON lines on stdin (see :func:`prompt_json`), responses as JSON lines on
    stdout. A batch that times out (``grounded.command_timeout_s``) or exits
    non-zero fails each of its cases with that reason; the rest go on
    (:mod:`.command`).
``responses:FILE``
    A JSON-lines file of responses already produced, matched by ``query_id``
    (:mod:`.responses`).

A malformed line fails only its own case (when its ``query_id`` is readable)
or is listed as an unmatched response; it never stops the run. What they
share (:class:`AnswerSet`, the :class:`Answerer` protocol, the prompt) is in
:mod:`.base`; this package depends on :mod:`goldkeeper.evals.evidence`, never
on the grounded scoring that consumes its answers.
"""

from __future__ import annotations

from typing import Any

from goldkeeper.config import GroundedParams, Settings
from goldkeeper.errors import UsageError
from goldkeeper.evals.answerers.base import Answerer, AnswerSet, Hit, Retriever, prompt_json
from goldkeeper.evals.answerers.caching import CachingEmbedder
from goldkeeper.evals.answerers.command import CommandAnswerer
from goldkeeper.evals.answerers.extractive import ExtractiveAnswerer, split_sentences
from goldkeeper.evals.answerers.responses import ResponsesFileAnswerer
from goldkeeper.evals.answerers.retriever import database_retriever
from goldkeeper.evals.evidence import EvidenceIndex
from goldkeeper.progress import SILENT, Progress


def make_answerer(
    spec: str,
    *,
    settings: Settings,
    params: GroundedParams,
    index: EvidenceIndex,
    embedder: Any | None = None,
    progress: Progress = SILENT,
    given: bool = False,
) -> Answerer:
    """The answerer named by ``spec``: ``extractive``, ``command:PROGRAM`` or ``responses:FILE``.

    PROGRAM runs in, and a relative FILE is read from, the project root for ``spec`` from params.yaml,
    the user's cwd (``Settings.cwd``) when ``given`` on the command line."""
    kind, _, arg = spec.partition(":")
    base = settings.given(".") if given else settings.root
    if kind == "extractive" and not arg:
        return ExtractiveAnswerer(
            database_retriever(settings, embedder, progress),
            index,
            embedder=embedder,
            top_k=params.top_k,
            max_sentences=params.max_sentences,
            refusal_threshold=params.refusal_threshold,
            semantic_weight=params.semantic_weight,
            progress=progress,
        )
    if kind == "command" and arg.strip():
        return CommandAnswerer(arg, cwd=base, batch_size=params.batch_size, timeout_s=params.command_timeout_s)
    if kind == "responses" and arg.strip():
        return ResponsesFileAnswerer(base / arg)
    raise UsageError(f"unknown answerer {spec!r}: use extractive, command:PROGRAM or responses:FILE")


__all__ = [
    "AnswerSet",
    "Answerer",
    "prompt_json",
    "ResponsesFileAnswerer",
    "CommandAnswerer",
    "split_sentences",
    "Hit",
    "Retriever",
    "CachingEmbedder",
    "ExtractiveAnswerer",
    "database_retriever",
    "make_answerer",
]
