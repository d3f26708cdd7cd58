"""The embedding worker process of :class:`goldkeeper.embed.workers.WorkerPool` (not a user command).

``python -m goldkeeper.embed.worker_main MODEL_NAME MODEL_PATH``: loads the model
on the CPU with one ONNX Runtime thread, then answers each request on stdin
(a list of texts) with their vectors on stdout until stdin closes. Its own
stdout is pointed at /dev/null first, so nothing a library prints can corrupt
the replies; SIGINT is ignored (the parent stops the worker).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from goldkeeper.embed.fastembed_backend import FastEmbedEmbedder
from goldkeeper.embed.workers import read_message, write_message


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    model_name, model_path = argv
    try:
        embedder = FastEmbedEmbedder(model_name, Path(model_path), threads=1, device="cpu", workers=1)
    except Exception as exc:
        write_message(replies, ("error", " ".join(str(exc).split())))
        return 1
    while (texts := read_message(requests)) is not None:
        try:
            vectors = embedder.embed_documents(texts)
        except Exception as exc:
            write_message(replies, ("error", f"{type(exc).__name__}: {' '.join(str(exc).split())}"))
            continue
        try:
            write_message(replies, ("ok", embedder.model_id, vectors.astype("float32", copy=False).tobytes()))
        except BrokenPipeError:
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
