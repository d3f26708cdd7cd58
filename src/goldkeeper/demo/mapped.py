"""``goldkeeper demo --mapped``: the pipeline through the params ``database:`` mapping (issue 12).

The demo's own fresh database gets an example application schema unlike goldkeeper's
(:data:`SCHEMA_FILE`: ``app.documents``, ``app.doc_chunks`` with a text path and an HNSW-indexed
``vector`` column, ``app.doc_summaries``, ``app.doc_notes``) and a draft document outside the mapping's
``where`` (:data:`ROWS_FILE`); then restore, verify --db, the evals, the gate and the report run through
the mapping in :data:`MAPPING_FILE` (package data: copy its ``database:`` section into params.yaml), and a
final dump through the mapping must give the restored store back byte for byte, with the draft untouched.

Only the demo creates tables, in the database it owns; goldkeeper never creates tables in a user's schema.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from goldkeeper.config import DatabaseParams, Settings, load_params
from goldkeeper.demo.context import DemoContext, StepResult
from goldkeeper.demo.steps import restored, shown
from goldkeeper.errors import ConfigError, DataIntegrityError
from goldkeeper.store import MANIFEST

SCHEMA_FILE = "example_schema.sql"
ROWS_FILE = "example_rows.sql"
MAPPING_FILE = "example_mapping.yaml"
#: the example schema's embedding column, sized for the bundled model; another model's dimension replaces it
_VECTOR = re.compile(r"vector\(384\)")


def package_file(name: str) -> Path:
    """A file of the demo package (the example schema, rows and mapping)."""
    return Path(str(resources.files("goldkeeper.demo").joinpath(name)))


def example_mapping() -> DatabaseParams:
    """The ``database:`` section of :data:`MAPPING_FILE`, validated like params.yaml's."""
    path = package_file(MAPPING_FILE)
    data = load_params(path).get("database")
    try:
        return DatabaseParams.model_validate(data)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ConfigError(f"{path}: database: {exc}") from exc


def mapped_settings(settings: Settings) -> Settings:
    """The project's settings with the example mapping as their ``database:`` section."""
    return settings.model_copy(update={"database": example_mapping()})


def schema_step(ctx: DemoContext) -> StepResult:
    """Create the example schema and the rows outside the ``where`` in the demo's database; fingerprint them."""
    from goldkeeper.db.example_schema import rows_outside, run_script  # noqa: PLC0415 - start-up: psycopg
    from goldkeeper.db.mapping import Mapping  # noqa: PLC0415 - start-up: psycopg

    assert ctx.settings.database is not None, "the schema step needs the mapped settings"
    ddl = package_file(SCHEMA_FILE).read_text(encoding="utf-8")
    ddl = _VECTOR.sub(f"vector({ctx.embedder.dim})", ddl)
    run_script(ctx.url, ddl)
    run_script(ctx.url, package_file(ROWS_FILE).read_text(encoding="utf-8"))
    outside = rows_outside(ctx.url, Mapping.from_params(ctx.settings.database))
    tables = ", ".join(f"{t} ({v.split(' md5')[0]})" for t, v in outside.items() if not v.startswith("0 "))
    summary = (
        f"example application schema {package_file(SCHEMA_FILE)} created (vector({ctx.embedder.dim}), HNSW cosine); "
        f"outside the where: {tables}"
    )
    data = {
        "schema_file": str(package_file(SCHEMA_FILE)),
        "mapping_file": str(package_file(MAPPING_FILE)),
        "outside": outside,
    }
    return StepResult(summary, data)


def mapped_restore_step(ctx: DemoContext) -> StepResult:
    """golden/ (or the bundled SQuAD sample, written as a store under the demo home) into the mapped tables."""
    from goldkeeper.importers.squad import read_squad, sample_path  # noqa: PLC0415 - start-up (project module doc)
    from goldkeeper.store import write_store  # noqa: PLC0415 - start-up (project module doc)

    settings = ctx.settings
    if (settings.store_path / MANIFEST).is_file():
        ctx.store_path = settings.store_path
        origin = shown(settings.store_path, settings.root)
    else:
        records = read_squad(sample_path())
        ctx.store_path = ctx.output("golden")
        write_store(
            ctx.store_path, settings.dataset.name, records.analyses, records.queries, dict(settings.store.shards)
        )
        origin = f"the bundled SQuAD sample (written to {ctx.store_path})"
    report = ctx.project.restore(source=ctx.store_path)
    return restored(ctx, report, origin, "the mapped tables")


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def mapped_dump_step(ctx: DemoContext) -> StepResult:
    """Dump through the mapping: byte-identical to the restored store, the rows outside the where untouched."""
    from goldkeeper.db.example_schema import rows_outside  # noqa: PLC0415 - start-up: psycopg
    from goldkeeper.db.mapping import Mapping  # noqa: PLC0415 - start-up: psycopg

    assert ctx.store_path is not None and ctx.settings.database is not None, "the dump step needs the restore step"
    out = ctx.output("dump")
    report = ctx.project.dump(out=out)
    restored_files, dumped = _files(ctx.store_path), _files(out)
    differing = sorted(n for n in restored_files.keys() | dumped.keys() if restored_files.get(n) != dumped.get(n))
    if differing:
        raise DataIntegrityError(
            f"demo dump: {out} differs from the restored store {ctx.store_path}: {', '.join(differing[:5])}"
        )
    before = ctx.results.get("schema", {}).get("outside")
    after = rows_outside(ctx.url, Mapping.from_params(ctx.settings.database))
    if before is not None and after != before:
        changed = [t for t in after if after[t] != before.get(t)]
        raise DataIntegrityError(f"demo dump: rows outside the where changed in {', '.join(changed)}")
    summary = (
        f"mapped tables -> {out}: byte-identical to the restored store ({len(dumped)} files, version "
        f"{report.version}); the rows outside the where are untouched"
    )
    return StepResult(
        summary,
        {"out": str(out), "version": report.version, "identical": True, "files": len(dumped), "outside": after},
    )


__all__ = [
    "SCHEMA_FILE",
    "ROWS_FILE",
    "MAPPING_FILE",
    "package_file",
    "example_mapping",
    "mapped_settings",
    "schema_step",
    "mapped_restore_step",
    "mapped_dump_step",
]
