"""A ``command:`` embedding program for the tests: deterministic vectors from each text's sha256.

``write_program(dir, dim)`` writes ``embed.py`` (run as ``command:python embed.py`` in ``dir``).
It appends one line per run to ``runs.log``, so tests count the provider's calls. Its
behaviour is chosen by the environment: ``FAKE_EMBED_FAIL`` (exit 3 with a message),
``FAKE_EMBED_FAIL_AT_RUN`` (the same, on that run only, counted from 1), ``FAKE_EMBED_SLEEP`` (seconds), ``FAKE_EMBED_DIM`` (another length), ``FAKE_EMBED_DROP``
(one line too few), ``FAKE_EMBED_GARBAGE`` (a non-JSON line), ``FAKE_EMBED_RECORD`` (a file: each input
line is appended to it, so a test sees the texts and kinds the program was given; read with :func:`recorded`).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np

PROGRAM = r"""
import hashlib, json, os, sys, time
dim = int(os.environ.get("FAKE_EMBED_DIM", "{dim}"))
lines = [json.loads(line) for line in sys.stdin if line.strip()]
if os.environ.get("FAKE_EMBED_RECORD"):
    with open(os.environ["FAKE_EMBED_RECORD"], "a") as record:
        record.writelines(json.dumps(item) + "\n" for item in lines)
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs.log"), "a") as log:
    log.write(f"{{len(lines)}}\n")
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs.log")) as log:
    run_number = len(log.read().split())
if os.environ.get("FAKE_EMBED_FAIL") or run_number == int(os.environ.get("FAKE_EMBED_FAIL_AT_RUN", "0")):
    print("loading the model", file=sys.stderr)
    print("CUDA out of memory", file=sys.stderr)
    sys.exit(3)
time.sleep(float(os.environ.get("FAKE_EMBED_SLEEP", "0")))
if os.environ.get("FAKE_EMBED_DROP"):
    lines = lines[:-1]
for item in lines:
    if os.environ.get("FAKE_EMBED_GARBAGE"):
        print("not json")
        continue
    digest = hashlib.sha256(item["text"].encode()).digest()
    vector = [digest[i % 32] - 127.5 for i in range(dim)]
    if item["kind"] == "query":
        vector[0] += 1000.0
    print(json.dumps({{"embedding": vector}}) if len(item["text"]) % 2 else json.dumps(vector))
"""


def write_program(folder: Path, dim: int = 8) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "embed.py").write_text(PROGRAM.format(dim=dim))
    return f"command:{sys.executable} embed.py"


def runs(folder: Path) -> list[int]:
    """The batch sizes of the program's runs so far."""
    log = folder / "runs.log"
    return [int(n) for n in log.read_text().split()] if log.exists() else []


def recorded(path: Path) -> list[tuple[str, str]]:
    """(kind, text) of every line the program was given while ``FAKE_EMBED_RECORD`` named ``path``, in order."""
    if not path.exists():
        return []
    items = [json.loads(line) for line in path.read_text().splitlines()]
    return [(item["kind"], item["text"]) for item in items]


def expected_vector(text: str, dim: int = 8, query: bool = False) -> np.ndarray:
    digest = hashlib.sha256(text.encode()).digest()
    vector = np.array([digest[i % 32] - 127.5 for i in range(dim)], dtype=np.float64)
    if query:
        vector[0] += 1000.0
    return (vector / np.linalg.norm(vector)).astype(np.float32)
