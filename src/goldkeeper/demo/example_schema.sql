-- An example application schema, unlike goldkeeper's reference `golden` schema (issue 12).
-- `goldkeeper demo --mapped` creates it in the demo's own fresh database and runs the whole pipeline
-- through the mapping in example_mapping.yaml (goldkeeper never creates tables in your schema).
CREATE EXTENSION IF NOT EXISTS vector;
CREATE SCHEMA app;

CREATE TABLE app.documents (
    doc_id      uuid PRIMARY KEY,
    source_url  text NOT NULL,
    name        text NOT NULL,
    kind        text NOT NULL DEFAULT 'text',
    state       text NOT NULL DEFAULT 'draft',
    created     timestamp NOT NULL,
    owner       text NOT NULL DEFAULT 'docs-team'
);

CREATE TABLE app.doc_chunks (
    chunk_id    uuid PRIMARY KEY,
    doc_id      uuid NOT NULL REFERENCES app.documents (doc_id) ON DELETE CASCADE,
    body        text NOT NULL,
    ord         bigint NOT NULL,
    heading     text,
    path        text NOT NULL DEFAULT '',
    kind        text NOT NULL DEFAULT 'text',
    emb         vector(384),
    emb_model   text,
    -- what full-text search matches (params retrieval.fulltext_config is english by default)
    body_tsv    tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED
);
CREATE INDEX doc_chunks_doc_id ON app.doc_chunks (doc_id);
CREATE INDEX doc_chunks_emb ON app.doc_chunks USING hnsw (emb vector_cosine_ops);
CREATE INDEX doc_chunks_body_tsv ON app.doc_chunks USING gin (body_tsv);

CREATE TABLE app.doc_summaries (
    summary_id  uuid PRIMARY KEY,
    doc_id      uuid NOT NULL REFERENCES app.documents (doc_id) ON DELETE CASCADE,
    summary     text NOT NULL,
    points      jsonb NOT NULL DEFAULT '[]',
    meta        jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE app.doc_notes (
    doc_id      uuid NOT NULL REFERENCES app.documents (doc_id) ON DELETE CASCADE,
    pos         integer NOT NULL,
    author      text NOT NULL,
    category    text NOT NULL,
    note        text NOT NULL,
    confidence  double precision,
    PRIMARY KEY (doc_id, pos)
);
