"""``nli``: a local ONNX cross-encoder (an NLI model) as the judge, loaded offline.

``grounded.judge_model_path`` is a folder holding ``model.onnx`` and
``tokenizer.json`` (the Hugging Face tokenizers format), and optionally
``config.json`` with ``id2label``. Nothing is downloaded. Each (evidence,
claim) pair is encoded as a sentence pair (premise = evidence, hypothesis =
claim), truncated to ``max_length`` tokens, and the pairs run through the
model in batches of ``grounded.judge_batch_size``. With three or more output
logits, the score is the softmax probability of the label whose name contains
``entail`` (index 0 without a config), and the verdict is ``contradicted``
when the label containing ``contradict`` has the highest probability; with
one logit, the score is its sigmoid. Supported when the score is at least the
threshold (default 0.5). The identity names the folder and the first 12 hex
digits of the ONNX file's sha256.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

from goldkeeper.evals.judges.base import Label, Verdict, check_threshold


def _sha12(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


def _labels(folder: Path) -> dict[int, str]:
    config = folder / "config.json"
    if not config.is_file():
        return {}
    try:
        raw = json.loads(config.read_text(encoding="utf-8")).get("id2label", {})
        return {int(k): str(v).lower() for k, v in raw.items()}
    except (ValueError, AttributeError, OSError) as exc:
        raise ValueError(f"judge_model_path: {config}: cannot read id2label: {exc}") from exc


class NliJudge:
    """A local ONNX cross-encoder: entailment probability of (evidence, claim)."""

    name = "nli"
    default_threshold = 0.5

    def __init__(
        self, folder: Path, threshold: float | None = None, *, batch_size: int = 64, max_length: int = 512
    ) -> None:
        self.threshold = check_threshold(self.default_threshold if threshold is None else threshold)
        if not folder.is_dir():
            raise ValueError(f"judge_model_path: {folder} is not a directory (a local ONNX cross-encoder folder)")
        model, tokenizer = folder / "model.onnx", folder / "tokenizer.json"
        for needed in (model, tokenizer):
            if not needed.is_file():
                raise ValueError(f"judge_model_path: {folder} has no {needed.name}")
        try:
            self.tokenizer = Tokenizer.from_file(str(tokenizer))
            self.session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - tokenizers / onnxruntime raise their own types
            raise ValueError(f"judge_model_path: {folder}: cannot load the model: {exc}") from exc
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding()
        self.inputs = [i.name for i in self.session.get_inputs()]
        labels = _labels(folder)
        self.entail = next((i for i, n in labels.items() if "entail" in n), 0)
        self.contradict = next((i for i, n in labels.items() if "contradict" in n), None)
        self.batch_size = max(1, batch_size)
        self.model_id = f"{folder.name}@sha256:{_sha12(model)}"

    @property
    def identity(self) -> str:
        return f"{self.name}:{self.model_id}@{self.threshold:g}"

    def judge(self, claim: str, evidence: str) -> Verdict:
        return self.judge_many([(claim, evidence)])[0]

    def judge_many(self, pairs: Sequence[tuple[str, str]]) -> list[Verdict]:
        verdicts: list[Verdict] = []
        for start in range(0, len(pairs), self.batch_size):
            verdicts += self._run_batch(pairs[start : start + self.batch_size])
        return verdicts

    def _feed(self, batch: Sequence[tuple[str, str]]) -> dict[str, Any]:
        encodings = self.tokenizer.encode_batch([(evidence, claim) for claim, evidence in batch])
        arrays = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return {name: arrays[name] for name in self.inputs if name in arrays}

    def _run_batch(self, batch: Sequence[tuple[str, str]]) -> list[Verdict]:
        logits = np.asarray(self.session.run(None, self._feed(batch))[0], dtype=np.float64)
        if logits.ndim == 1 or logits.shape[1] == 1:
            probabilities = 1.0 / (1.0 + np.exp(-logits.reshape(-1, 1)))
            scores, contradicted = probabilities[:, 0], np.zeros(len(batch), dtype=bool)
        else:
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            probabilities = shifted / shifted.sum(axis=1, keepdims=True)
            scores = probabilities[:, self.entail]
            contradicted = (
                probabilities.argmax(axis=1) == self.contradict
                if self.contradict is not None
                else np.zeros(len(batch), dtype=bool)
            )
        verdicts = []
        for score, contra in zip(scores.tolist(), contradicted.tolist(), strict=True):
            supported = score >= self.threshold and not contra
            label: Label = "contradicted" if contra else ("supported" if supported else "not_enough_info")
            reason = (
                ""
                if supported
                else f"entailment {score:.2f} < {self.threshold:.2f}" + (" (contradiction)" if contra else "")
            )
            verdicts.append(Verdict(float(score), supported, reason, label))
        return verdicts


__all__ = ["NliJudge"]
