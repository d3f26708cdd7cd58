"""params ``database:`` inferred from a :class:`~goldkeeper.db.catalogue.Catalogue` (``init --from-database``).

Pure logic on the catalogue's values (no connection). An entity's table is found by its name
(:data:`TABLE_NAMES`, any schema; or its singular, or after an app label: an ORM's ``DocChunk``, ``rag_document``),
a field's column by its name (:data:`COLUMN_NAMES`; case and underscores aside: ``createdAt``), ``id`` is the
table's one-column primary key (else a column named ``id``), a child's ``analysis_id`` is its FOREIGN KEY
to the analyses' table, and ``chunks.embedding`` its one ``vector`` column. A column whose type does not
convert losslessly (:func:`goldkeeper.db.mapping.conversion`) is not mapped. Nothing is guessed: two
candidate tables, two candidate columns or two vector columns are a :class:`Gap` naming them, and so is a
required field without a candidate. An optional field without a candidate is simply left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from goldkeeper.config.sections import ENTITY_FIELDS, REQUIRED_FIELDS
from goldkeeper.db.mapping import FIELD_TYPES, TEXTUAL, conversion

if TYPE_CHECKING:
    from goldkeeper.db.catalogue import Catalogue, Column, Table

#: entity -> the table names that hold it (compared case-insensitively, in any schema)
TABLE_NAMES: dict[str, tuple[str, ...]] = {
    "analyses": ("analyses", "analysis", "documents", "document", "docs", "doc", "articles", "article"),
    "chunks": ("chunks", "chunk", "doc_chunks", "document_chunks", "analysis_chunks", "passages", "passage"),
    "artifacts": ("artifacts", "artifact", "analysis_artifacts", "summaries"),
    "findings": ("findings", "finding", "analysis_findings"),
}
#: (entity, field) -> the column names that hold it (``id`` and ``analysis_id`` come from the keys)
COLUMN_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("analyses", "url"): ("url", "source_url", "link", "uri", "href", "canonical_url"),
    ("analyses", "title"): ("title", "name"),
    ("analyses", "content_type"): ("content_type", "mime_type"),
    ("analyses", "status"): ("status", "state"),
    ("analyses", "created_at"): ("created_at", "published_at", "created", "inserted_at"),
    ("chunks", "content"): ("content", "body", "text", "chunk_text"),
    ("chunks", "section_title"): ("section_title", "heading", "section"),
    ("chunks", "section_path"): ("section_path", "path", "breadcrumbs"),
    ("chunks", "content_type"): ("content_type", "mime_type"),
    ("chunks", "chunk_index"): ("chunk_index", "ord", "ordinal", "position", "pos", "idx", "seq", "chunk_number"),
    ("artifacts", "summary"): ("summary", "abstract"),
    ("artifacts", "key_findings"): ("key_findings", "points", "highlights"),
    ("artifacts", "metadata"): ("metadata", "meta"),
    ("findings", "ordinal"): ("ordinal", "ord", "position", "pos", "idx"),
    ("findings", "agent"): ("agent", "author"),
    ("findings", "category"): ("category", "kind"),
    ("findings", "content"): ("content", "body", "text", "note"),
    ("findings", "confidence"): ("confidence", "score"),
}
#: tables that may hold the golden queries: not inferred (their columns vary too much), but said
QUERY_TABLE_NAMES = (
    "queries",
    "eval_queries",
    "golden_queries",
    "test_queries",
    "prompts",
    "eval_prompts",
    "eval_cases",
)
#: the text column recording each vector's model, by name (``{embedding column}_model`` too)
MODEL_COLUMN_NAMES = ("embedding_model", "model")
_REQUIRED_ENTITIES = ("analyses", "chunks")


@dataclass(frozen=True)
class Gap:
    """Something not inferred: ``key`` under ``database.tables.<entity>`` (``table``, ``columns.url``, ...)."""

    entity: str
    key: str
    reason: str
    #: the mapping is incomplete without it (a required entity or field, the embedding column)
    required: bool

    @property
    def line(self) -> str:
        return f"database.tables.{self.entity}.{self.key}: {self.reason}"


@dataclass(frozen=True)
class InferredTable:
    """One entity's table as far as it was inferred."""

    entity: str
    table: str
    columns: dict[str, str]
    embedding_column: str | None = None
    model_column: str | None = None
    #: the embedding column's dimension (None: not a dimensioned vector)
    embedding_dim: int | None = None
    #: optional fields without a candidate column (left out: read as goldkeeper's default)
    left_out: tuple[str, ...] = ()

    def to_params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"table": self.table, "columns": dict(self.columns)}
        if self.embedding_column is not None:
            params["embedding"] = {"column": self.embedding_column}
            if self.model_column is not None:
                params["embedding"]["model_column"] = self.model_column
        return params


@dataclass(frozen=True)
class InferredMapping:
    """The inferred ``database:`` section: its tables, and every :class:`Gap`."""

    tables: tuple[InferredTable, ...] = ()
    gaps: tuple[Gap, ...] = ()
    #: no application table was found but goldkeeper's own schema ``golden`` is there: no section needed
    reference: bool = False
    #: what init says without blocking anything (a table that looks like the golden queries: never inferred)
    notes: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Every required entity, field and the embedding column mapped (params.yaml will load)."""
        return not any(gap.required for gap in self.gaps)

    def to_params(self) -> dict[str, Any]:
        """params ``database:`` as a mapping (``{"tables": {...}}``)."""
        return {"tables": {t.entity: t.to_params() for t in self.tables}}

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "complete": self.complete,
            "database": None if self.reference else self.to_params(),
            "gaps": [gap.line for gap in self.gaps],
            "notes": list(self.notes),
        }


def _names(items: list[str]) -> str:
    return ", ".join(items)


def _key(name: str) -> str:
    """A name as compared: case and underscores aside, so an ORM's ``createdAt`` / ``DocChunk`` (Prisma's camelCase
    and PascalCase) is ``created_at`` / ``doc_chunk``."""
    return name.replace("_", "").lower()


def _named(name: str, names: tuple[str, ...], *, singular: bool = False) -> bool:
    """Whether ``name`` is one of ``names`` (:func:`_key`); ``singular``: a plural's singular too (an ORM names a
    table after its model: Prisma's ``DocChunk``, Django's ``doc_chunk``)."""
    keys = {_key(n) for n in names}
    if singular:
        keys |= {k[:-3] + "y" if k.endswith("ies") else k[:-1] for k in keys if k.endswith("s")}
    return _key(name) in keys


def _named_table(table: Table, names: tuple[str, ...], *, app_prefixed: bool = False) -> bool:
    """Whether ``table`` is named one of ``names``; ``app_prefixed``: after a Django app label (``rag_document``)."""
    name = table.name.split("_", 1)[1] if app_prefixed and "_" in table.name else table.name
    return (not app_prefixed or "_" in table.name) and _named(name, names, singular=True)


def _entity_table(catalogue: Catalogue, entity: str) -> tuple[Table | None, Gap | None]:
    # a name as listed first; only when none is, after an app label: a ``legacy_documents`` beside ``documents``
    found = [t for t in catalogue.tables if _named_table(t, TABLE_NAMES[entity])]
    found = found or [t for t in catalogue.tables if _named_table(t, TABLE_NAMES[entity], app_prefixed=True)]
    required = entity in _REQUIRED_ENTITIES
    if len(found) == 1:
        return found[0], None
    if not found:
        gap = Gap(entity, "table", f"no table named {' | '.join(TABLE_NAMES[entity])}", required)
        return None, gap if required else None
    tables = _names([t.qualified for t in found])
    return None, Gap(entity, "table", f"{len(found)} candidate tables ({tables}): name the one to use", required)


def _id_column(table: Table) -> Column | None:
    if len(table.primary_key) == 1:
        return table.column(table.primary_key[0])
    return table.column("id")


def _converts(entity: str, name: str, column: Column) -> bool:
    wanted = FIELD_TYPES[entity][ENTITY_FIELDS[entity].index(name)]
    return conversion(wanted, column.type) is not None


def _type_gap(entity: str, name: str, table: Table, column: Column, required: bool) -> Gap:
    wanted = FIELD_TYPES[entity][ENTITY_FIELDS[entity].index(name)]
    hint = f" (a path stored as text: declare separators.{name} and map it)" if wanted == "text[]" else ""
    reason = f"{table.qualified}.{column.name} is {column.type}, which cannot hold {wanted} without loss{hint}"
    return Gap(entity, f"columns.{name}", reason, required)


def _parent_fk(entity: str, table: Table, parent: Table) -> tuple[Column | None, Gap | None]:
    """The column of ``table``'s one-column FOREIGN KEY to ``parent`` (the child's ``analysis_id``)."""
    keys = [k for k in table.foreign_keys if k.target == parent.qualified and len(k.columns) == 1]
    if len(keys) == 1:
        return table.column(keys[0].columns[0]), None
    if not keys:
        reason = f"no FOREIGN KEY from {table.qualified} to {parent.qualified} (map the column, and add the "
        reason += "constraint or set declared_foreign_key: true)"
    else:
        reason = f"{len(keys)} FOREIGN KEYs from {table.qualified} to {parent.qualified} "
        reason += f"({_names([k.columns[0] for k in keys])}): name the one to use"
    return None, Gap(entity, "columns.analysis_id", reason, "analysis_id" in REQUIRED_FIELDS[entity])


def _field_column(entity: str, name: str, table: Table) -> tuple[Column | None, Gap | None]:
    """The column holding ``entity.name`` by its name (None with no gap: an optional field left out)."""
    required = name in REQUIRED_FIELDS[entity]
    if name == "id":
        column = _id_column(table)
        if column is None:
            return None, Gap(entity, "columns.id", f"{table.qualified} has no one-column primary key nor id", required)
        candidates = [column]
    else:
        wanted = COLUMN_NAMES[(entity, name)]
        candidates = [c for c in table.columns if _named(c.name, wanted)]
        if not candidates:
            gap = Gap(entity, f"columns.{name}", f"no column of {table.qualified} named {' | '.join(wanted)}", required)
            return None, gap if required else None
        if len(candidates) > 1:
            reason = (
                f"{len(candidates)} candidate columns in {table.qualified} ({_names([c.name for c in candidates])})"
            )
            return None, Gap(entity, f"columns.{name}", reason + ": name the one to use", required)
    if not _converts(entity, name, candidates[0]):
        return None, _type_gap(entity, name, table, candidates[0], required)
    return candidates[0], None


def _embedding(table: Table) -> tuple[Column | None, Column | None, Gap | None]:
    """chunks: the one ``vector`` column, and the text column recording its model (by name)."""
    vectors = [c for c in table.columns if c.is_vector]
    if not vectors:
        return None, None, Gap("chunks", "embedding", f"no vector column in {table.qualified}", True)
    if len(vectors) > 1:
        reason = f"{len(vectors)} vector columns in {table.qualified} ({_names([c.name for c in vectors])})"
        return None, None, Gap("chunks", "embedding", reason + ": name the one to use", True)
    names = (f"{vectors[0].name}_model", *MODEL_COLUMN_NAMES)
    # text or varchar only: restore writes the model id there, which an enum would refuse (db check does too)
    models = [c for c in table.columns if _named(c.name, names) and c.type.split("(")[0] in TEXTUAL]
    return vectors[0], models[0] if len(models) == 1 else None, None


def _infer_table(entity: str, table: Table, parent: Table | None) -> tuple[InferredTable, list[Gap]]:
    columns: dict[str, str] = {}
    gaps: list[Gap] = []
    left_out: list[str] = []
    for name in ENTITY_FIELDS[entity]:
        if name == "analysis_id":
            if parent is None:
                gaps.append(
                    Gap(
                        entity,
                        "columns.analysis_id",
                        "the analyses' table is not known (database.tables.analyses.table)",
                        True,
                    )
                )
                continue
            column, gap = _parent_fk(entity, table, parent)
        else:
            column, gap = _field_column(entity, name, table)
        if column is not None:
            columns[name] = column.name
        elif gap is not None:
            gaps.append(gap)
        else:
            left_out.append(name)
    vector = model = None
    if entity == "chunks":
        vector, model, gap = _embedding(table)
        gaps += [gap] if gap is not None else []
    inferred = InferredTable(
        entity=entity,
        table=table.qualified,
        columns=columns,
        embedding_column=vector.name if vector else None,
        model_column=model.name if model else None,
        embedding_dim=vector.vector_dim if vector else None,
        left_out=tuple(left_out),
    )
    return inferred, gaps


def infer_mapping(catalogue: Catalogue) -> InferredMapping:
    """params ``database:`` for the tables of ``catalogue`` (see the module doc), with every gap."""
    found = {entity: _entity_table(catalogue, entity) for entity in ENTITY_FIELDS if entity != "queries"}
    named = [t for t in catalogue.tables for e in _REQUIRED_ENTITIES if _named_table(t, TABLE_NAMES[e])]
    if catalogue.reference_schema and not named:
        return InferredMapping(reference=True)  # goldkeeper's own schema, and none of the application's
    parent = found["analyses"][0]
    tables: list[InferredTable] = []
    gaps: list[Gap] = []
    for entity, (table, gap) in found.items():
        gaps += [gap] if gap is not None else []
        if table is None:
            continue
        inferred, table_gaps = _infer_table(entity, table, None if entity == "analyses" else parent)
        tables.append(inferred)
        gaps += table_gaps
    return InferredMapping(tables=tuple(tables), gaps=tuple(gaps), notes=_query_table_notes(catalogue))


def _query_table_notes(catalogue: Catalogue) -> tuple[str, ...]:
    """One line per table whose name says it may hold the golden queries (not inferred: mapped by hand)."""
    return tuple(
        f"a table {t.qualified} may hold your golden queries: map it under database.tables.queries "
        "(docs/configuration.md)"
        for t in catalogue.tables
        if _named_table(t, QUERY_TABLE_NAMES)
    )


__all__ = [
    "COLUMN_NAMES",
    "QUERY_TABLE_NAMES",
    "TABLE_NAMES",
    "Gap",
    "InferredMapping",
    "InferredTable",
    "infer_mapping",
]
