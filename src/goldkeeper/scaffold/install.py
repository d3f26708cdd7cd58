"""The ``pip install`` arguments of the workflows ``init`` writes, derived from how this goldkeeper is installed."""

from __future__ import annotations

import json
import subprocess
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse


def derived_install(root: Path) -> str | None:
    """``pip install`` arguments for CI, derived from how this goldkeeper is installed (PEP 610
    ``direct_url.json``): from a git URL, that commit; from a local checkout, ``-e .`` when it is the
    repository being set up, else its ``origin`` at its HEAD commit; from an index, this version.
    None when it cannot tell (a local directory without a remote, no distribution metadata)."""
    try:
        dist = metadata.distribution("goldkeeper")
    except metadata.PackageNotFoundError:
        return None
    text = dist.read_text("direct_url.json")
    if not text:
        return f"goldkeeper=={dist.version}"  # installed from an index
    info = json.loads(text)
    url, vcs = str(info.get("url", "")), info.get("vcs_info") or {}
    if vcs.get("vcs") == "git" and vcs.get("commit_id"):
        return f"'goldkeeper @ git+{url}@{vcs['commit_id']}'"
    if not url.startswith("file://"):
        return f"'goldkeeper @ {url}'"  # an archive URL
    source = Path(unquote(urlparse(url).path)).resolve()
    if source == Path(root).resolve():
        return "-e ."
    return _checkout_install(source)


def _checkout_install(source: Path) -> str | None:
    """A local git checkout of goldkeeper as ``goldkeeper @ git+<origin>@<HEAD>`` (https for GitHub ssh URLs)."""

    def git(*args: str) -> str | None:
        proc = subprocess.run(["git", *args], cwd=source, capture_output=True, text=True, check=False)
        return proc.stdout.strip() if proc.returncode == 0 and proc.stdout.strip() else None

    remote, commit = git("remote", "get-url", "origin"), git("rev-parse", "HEAD")
    if remote is None or commit is None or not source.is_dir():
        return None
    if remote.startswith("git@github.com:"):
        remote = "https://github.com/" + remote.removeprefix("git@github.com:")
    if not remote.startswith(("https://", "http://", "ssh://", "git://")):
        return None  # a path or another local remote: unreachable from CI
    return f"'goldkeeper @ git+{remote}@{commit}'"
