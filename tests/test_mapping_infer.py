"""params ``database:`` inferred from a catalogue (pure logic, no database): tables and columns by name, keys,
the vector column; every ambiguity a gap naming it, and the YAML section init writes from it."""

from __future__ import annotations

import pytest
import yaml

from goldkeeper.config.sections import DatabaseParams
from goldkeeper.db.catalogue import Catalogue, Column, ForeignKey, Table
from goldkeeper.db.mapping_infer import InferredMapping, infer_mapping
from goldkeeper.scaffold.database_section import render_database_section, scalar


def cols(**types: str) -> tuple[Column, ...]:
    return tuple(Column(name, type_) for name, type_ in types.items())


def fk(column: str, target: str) -> tuple[ForeignKey, ...]:
    return (ForeignKey((column,), target, ("id",)),)


ANALYSES = Table(
    "public",
    "analyses",
    cols(
        id="uuid", url="text", title="text", content_type="text", status="text", created_at="timestamp with time zone"
    ),
    ("id",),
)
CHUNKS = Table(
    "public",
    "chunks",
    cols(
        id="uuid",
        analysis_id="uuid",
        content="text",
        section_title="text",
        section_path="text",
        content_type="text",
        chunk_index="integer",
        embedding="vector(1024)",
        embedding_model="text",
    ),
    ("id",),
    fk("analysis_id", "public.analyses"),
)
ARTIFACTS = Table(
    "public",
    "artifacts",
    cols(id="uuid", analysis_id="uuid", summary="text", key_findings="jsonb", metadata="jsonb"),
    ("id",),
    fk("analysis_id", "public.analyses"),
)


def section_params(inferred: InferredMapping) -> object:
    """The rendered section, read back as YAML."""
    return yaml.safe_load(render_database_section(inferred))["database"]


def test_a_skillforge_schema_is_inferred_completely() -> None:
    inferred = infer_mapping(Catalogue((ANALYSES, ARTIFACTS, CHUNKS)))
    assert inferred.complete and not inferred.reference
    params = inferred.to_params()
    assert params["tables"]["analyses"]["columns"] == {f: f for f in ANALYSES.primary_key + ("url", "title",
        "content_type", "status", "created_at")}  # fmt: skip
    chunks = params["tables"]["chunks"]
    assert chunks["table"] == "public.chunks"
    assert chunks["embedding"] == {"column": "embedding", "model_column": "embedding_model"}
    assert chunks["columns"]["analysis_id"] == "analysis_id" and chunks["columns"]["chunk_index"] == "chunk_index"
    assert params["tables"]["artifacts"]["columns"]["key_findings"] == "key_findings"
    # a path held as text has no separator to infer: left unmapped, said (not required: still complete)
    assert "section_path" not in chunks["columns"]
    [gap] = inferred.gaps
    assert not gap.required and gap.line.startswith("database.tables.chunks.columns.section_path: ")
    assert "public.chunks.section_path is text" in gap.line and "separators.section_path" in gap.line
    # the written section is what was inferred, and params.yaml's own validation accepts it
    written = section_params(inferred)
    assert written == params
    DatabaseParams.model_validate(written)
    text = render_database_section(inferred)
    assert "# TODO section_path: public.chunks.section_path is text" in text
    assert "vector(1024): the embedding model must embed 1024 dimensions" in text


def test_an_application_schema_by_synonyms_and_keys() -> None:
    documents = Table(
        "app",
        "documents",
        cols(doc_id="text", source_url="text", name="text", state="text", published_at="timestamp without time zone"),
        ("doc_id",),
    )
    doc_chunks = Table(
        "app",
        "doc_chunks",
        cols(
            chunk_id="text",
            doc_id="text",
            body="text",
            ord="bigint",
            heading="text",
            emb="vector(384)",
            emb_model="text",
        ),
        ("chunk_id",),
        fk("doc_id", "app.documents"),
    )
    inferred = infer_mapping(Catalogue((documents, doc_chunks)))
    assert inferred.complete and inferred.gaps == ()
    tables = inferred.to_params()["tables"]
    assert tables["analyses"]["columns"] == {
        "id": "doc_id", "url": "source_url", "title": "name", "status": "state", "created_at": "published_at",
    }  # fmt: skip
    assert tables["chunks"]["columns"] == {
        "id": "chunk_id", "analysis_id": "doc_id", "content": "body", "section_title": "heading", "chunk_index": "ord",
    }  # fmt: skip
    assert tables["chunks"]["embedding"] == {"column": "emb", "model_column": "emb_model"}
    assert [t.left_out for t in inferred.tables] == [("content_type",), ("section_path", "content_type")]
    assert "artifacts" not in tables  # no such table: the dataset has none


def test_two_candidate_tables_are_reported_not_guessed() -> None:
    articles = Table("public", "articles", ANALYSES.columns, ("id",))
    inferred = infer_mapping(Catalogue((ANALYSES, articles, CHUNKS)))
    assert not inferred.complete
    lines = [gap.line for gap in inferred.gaps]
    assert lines[0] == (
        "database.tables.analyses.table: 2 candidate tables (public.analyses, public.articles): name the one to use"
    )
    assert "analyses" not in inferred.to_params()["tables"]
    text = render_database_section(inferred)
    assert "    # TODO analyses: 2 candidate tables (public.analyses, public.articles)" in text
    with pytest.raises(ValueError, match="is not mapped|is required"):
        DatabaseParams.model_validate(section_params(inferred))


def test_two_vector_columns_two_text_columns_and_no_foreign_key_are_gaps() -> None:
    chunks = Table(
        "public",
        "chunks",
        cols(id="uuid", analysis_id="uuid", body="text", text="text", ord="integer", v1="vector(8)", v2="vector(8)"),
        ("id",),
    )
    inferred = infer_mapping(Catalogue((ANALYSES, chunks)))
    assert not inferred.complete
    by_key = {gap.key: gap for gap in inferred.gaps if gap.entity == "chunks"}
    assert set(by_key) == {"columns.analysis_id", "columns.content", "embedding"}
    assert all(gap.required for gap in by_key.values())
    assert by_key["embedding"].reason == "2 vector columns in public.chunks (v1, v2): name the one to use"
    assert by_key["columns.content"].reason == "2 candidate columns in public.chunks (body, text): name the one to use"
    assert "no FOREIGN KEY from public.chunks to public.analyses" in by_key["columns.analysis_id"].reason
    text = render_database_section(inferred)
    assert "        # TODO content: 2 candidate columns in public.chunks (body, text)" in text
    assert "      # TODO embedding: 2 vector columns in public.chunks (v1, v2)" in text
    assert "embedding:" not in text.replace("# TODO embedding:", "")


def test_a_column_of_the_wrong_type_is_not_mapped() -> None:
    analyses = Table("public", "analyses", cols(id="uuid", url="text", title="text", created_at="text"), ("id",))
    inferred = infer_mapping(Catalogue((analyses, CHUNKS)))
    [gap] = [g for g in inferred.gaps if g.entity == "analyses"]
    assert gap.required and gap.line == (
        "database.tables.analyses.columns.created_at: public.analyses.created_at is text, "
        "which cannot hold timestamptz without loss"
    )


def test_no_tables_at_all_is_two_gaps_and_the_reference_schema_needs_none() -> None:
    empty = infer_mapping(Catalogue(()))
    assert [gap.line.split(":")[0] for gap in empty.gaps] == [
        "database.tables.analyses.table",
        "database.tables.chunks.table",
    ]
    assert not empty.complete
    reference = infer_mapping(Catalogue((Table("public", "users", cols(id="uuid"), ("id",)),), reference_schema=True))
    assert reference.reference and reference.complete and reference.gaps == ()


@pytest.mark.parametrize(("value", "written"), [("doc_id", "doc_id"), ("on", '"on"'), ("My Col", '"My Col"')])
def test_names_are_quoted_when_yaml_would_read_them_otherwise(value: str, written: str) -> None:
    assert scalar(value) == written
    assert yaml.safe_load(f"k: {written}")["k"] == value


@pytest.mark.parametrize(
    ("documents", "chunks"),
    [("Document", "DocChunk"), ("rag_document", "rag_chunk")],  # Prisma's models; Django's app_model tables
)
def test_an_orms_names_are_inferred_camel_case_singular_and_app_prefixed(documents: str, chunks: str) -> None:
    """Prisma names tables after singular PascalCase models and columns in camelCase, Django prefixes its app."""
    analyses = Table(
        "MyApp",
        documents,
        cols(id="text", sourceUrl="text", title="text", createdAt="timestamp(3) without time zone"),
        ("id",),
    )
    chunk_table = Table(
        "MyApp",
        chunks,
        cols(
            id="uuid",
            documentId="text",
            content="text",
            chunkIndex="integer",
            sectionTitle="text",
            embedding="vector(384)",
            embeddingModel="text",
        ),  # fmt: skip
        ("id",),
        fk("documentId", f"MyApp.{documents}"),
    )
    queries = Table("MyApp", "EvalQuery", cols(id="text"), ("id",))
    inferred = infer_mapping(Catalogue((analyses, chunk_table, queries)))
    assert inferred.complete and inferred.gaps == ()
    tables = inferred.to_params()["tables"]
    assert tables["analyses"] == {
        "table": f"MyApp.{documents}",
        "columns": {"id": "id", "url": "sourceUrl", "title": "title", "created_at": "createdAt"},
    }
    assert tables["chunks"]["columns"] == {
        "id": "id", "analysis_id": "documentId", "content": "content", "section_title": "sectionTitle",
        "chunk_index": "chunkIndex",
    }  # fmt: skip
    assert tables["chunks"]["embedding"] == {"column": "embedding", "model_column": "embeddingModel"}
    assert inferred.notes == (
        "a table MyApp.EvalQuery may hold your golden queries: map it under database.tables.queries "
        "(docs/configuration.md)",
    )


def test_an_exact_table_name_wins_over_an_app_prefixed_one() -> None:
    legacy = Table("public", "legacy_documents", ANALYSES.columns, ("id",))
    inferred = infer_mapping(Catalogue((ANALYSES, legacy, CHUNKS)))
    assert inferred.to_params()["tables"]["analyses"]["table"] == "public.analyses"
