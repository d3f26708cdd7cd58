"""Search SQL on a tiny hand-made dataset: OR full-text semantics, boosts, the vector leg."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli_support import run_cli
from goldkeeper.config import BoostParams, EmbeddingParams, RetrievalParams
from goldkeeper.dataset.restore import restore_records
from goldkeeper.db.connection import connection
from goldkeeper.db.search import fulltext_search, prepare, searched_chunks, vector_search
from goldkeeper.embed import load_embedder
from goldkeeper.errors import ConfigError
from goldkeeper.evals.retrieval import run_retrieval
from goldkeeper.models import Analysis, Chunk, Expected, ExpectedBehavior, Query, Relevance
from retrieval_support import module_database

NS = uuid.UUID("5f0c2a8e-3b7d-4e21-9d64-0c2f6b1e7a90")
TEXTS = [
    ("The glacier carved a deep valley in the northern mountains.", "Glaciers", "text"),
    ("Basalt columns form when lava cools slowly.", "Volcanoes", "table"),
    ("Monsoon rains flood the river delta every summer.", None, "text"),
]
CHUNK_IDS = [uuid.uuid5(NS, f"chunk-{i}") for i in range(len(TEXTS))]
QUESTION = "How did the glacier shape the landscape near the coast?"


@pytest.fixture(scope="module")
def embedder():
    return load_embedder(EmbeddingParams())


@pytest.fixture(scope="module")
def tiny(pg_admin_url, embedder):
    analysis = Analysis(
        id=uuid.uuid5(NS, "analysis"),
        url="https://en.wikipedia.org/wiki/Landforms",
        title="Landforms",
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        chunks=[
            Chunk(
                id=cid, content=text, section_title=title, section_path=["Landforms"], content_type=ctype, chunk_index=i
            )
            for i, (cid, (text, title, ctype)) in enumerate(zip(CHUNK_IDS, TEXTS, strict=True))
        ],
    )
    queries = [
        Query(
            id="q-glacier",
            text=QUESTION,
            domain="test",
            expected=Expected(chunks=[Relevance(id=CHUNK_IDS[0])]),
            expected_behavior=ExpectedBehavior(behavior="answer"),
        ),
        Query(
            id="q-refuse",
            text="Who won the 1930 cup?",
            domain="test",
            expected_behavior=ExpectedBehavior(behavior="refuse"),
        ),
    ]
    with module_database(pg_admin_url) as url:
        restore_records(url, [analysis], queries, embedder)
        yield url


def test_fulltext_or_semantics_match_a_natural_language_question(tiny):
    question = ["How did the glacier shape the landscape near the coast?"]
    with connection(tiny) as conn:
        prepare(conn)
        (or_hits,) = fulltext_search(conn, question, 10, tsquery="or")
        (and_hits,) = fulltext_search(conn, question, 10, tsquery="websearch")
        (stop_words_only,) = fulltext_search(conn, ["Who is it?"], 10)
    assert [h.chunk_id for h in or_hits] == [str(CHUNK_IDS[0])]
    assert or_hits[0].title_match  # "glacier" stems like the section title "Glaciers"
    assert and_hits == []
    assert stop_words_only == []


def test_vector_leg_ranks_every_embedded_chunk(tiny, embedder):
    with connection(tiny) as conn:
        prepare(conn)
        (hits,) = vector_search(conn, embedder.embed_documents(["glacier valley"]), ["glacier valley"], 2, ef_search=1)
    assert [h.rank for h in hits] == [1, 2]
    assert hits[0].chunk_id == str(CHUNK_IDS[0])
    assert hits[0].score >= hits[1].score


def test_modes_scores_and_refusal_exclusion(tiny, embedder):
    result = run_retrieval(tiny, embedder, RetrievalParams())
    assert result.evaluated == 1 and result.excluded_refusal == 1
    by_mode = {m.mode: m.report.summary for m in result.modes}
    assert by_mode["fulltext"]["recip_rank"] == 1.0
    assert by_mode["vector"]["recip_rank"] == 1.0
    assert by_mode["hybrid"]["recip_rank"] == 1.0
    # AND semantics find nothing: the query still counts, as a miss
    strict = run_retrieval(tiny, embedder, RetrievalParams(tsquery="websearch"), modes=["fulltext"])
    assert strict.modes[0].report.summary["recip_rank"] == 0.0
    assert strict.evaluated == 1


def test_content_type_boost_reorders(tiny, embedder):
    boosted = RetrievalParams(boosts=BoostParams(content_type={"table": 5.0}))
    result = run_retrieval(tiny, embedder, boosted, modes=["vector"])
    summary = result.modes[0].report.summary
    assert summary["recip_rank"] == 0.5  # the table chunk jumps ahead of the relevant one
    record = result.per_query_records()[0]
    assert record["retrieved"][0] == str(CHUNK_IDS[1]) and record["first_relevant_rank"] == 2


def test_fulltext_config_other_than_english_stems_the_chunks_with_it_too(tiny):
    # golden.chunks.tsv is English ('carv', 'mountain'): a `simple` question ('carved', 'mountains') matched
    # none of it, so another configuration silently emptied the full-text leg
    with connection(tiny) as conn:
        prepare(conn)
        source = searched_chunks(conn, None, "simple", None)
        (hits,) = fulltext_search(conn, ["carved mountains"], 10, ts_config="simple", chunks=source)
        (english,) = fulltext_search(
            conn, ["carved mountains"], 10, chunks=searched_chunks(conn, None, "english", None)
        )
    assert [h.chunk_id for h in hits] == [str(CHUNK_IDS[0])]
    assert [h.chunk_id for h in english] == [str(CHUNK_IDS[0])]


def test_a_fulltext_config_without_an_index_says_which_to_build(tiny, embedder):
    # under another configuration than the tsv column's each question parsed every chunk again (34 s a question
    # at 100,000 chunks), silently; the warning gives the index, and once it is built the planner reads it.
    # Only a session that cannot compute the tsvectors into a temporary table reads the expression (and the
    # index) now: a read-only one
    params = RetrievalParams(fulltext_config="simple")
    read_only = f"{tiny}&options=-c%20default_transaction_read_only%3Don"
    assert not [w for w in run_retrieval(tiny, embedder, params, modes=["fulltext"]).warnings if "index" in w]
    warned = run_retrieval(read_only, embedder, params, modes=["fulltext"]).warnings
    (hint,) = [w for w in warned if "no full-text index" in w]
    assert "run `goldkeeper db init` once as the table's owner" in hint
    statement = hint.split("have the owner run: ")[1]
    assert (
        statement == "CREATE INDEX ON golden.chunks USING gin (to_tsvector('pg_catalog.simple'::regconfig, content));"
    )
    with connection(tiny) as conn:
        conn.execute(statement)
    try:
        after = run_retrieval(read_only, embedder, params, modes=["fulltext"]).warnings
        english = run_retrieval(tiny, embedder, RetrievalParams(), modes=["hybrid"]).warnings
    finally:
        with connection(tiny) as conn:
            conn.execute("DROP INDEX golden.chunks_to_tsvector_idx")
    assert not [w for w in after + english if "no full-text index" in w]


def test_a_fulltext_config_whose_name_needs_quoting_is_read_as_named(tiny):
    # the name was resolved, then written back unquoted (`public.Swiss`), which PostgreSQL folds to another name:
    # the search failed with "unknown text search configuration" for a configuration the check had just found
    name = 'public."Swiss"'
    with connection(tiny) as conn:
        conn.execute(f"CREATE TEXT SEARCH CONFIGURATION {name} (COPY = pg_catalog.simple)")
    try:
        with connection(tiny) as conn:
            prepare(conn)
            source = searched_chunks(conn, None, name, None)
            (hits,) = fulltext_search(conn, ["carved mountains"], 10, ts_config=name, chunks=source)
    finally:
        with connection(tiny) as conn:
            conn.execute(f"DROP TEXT SEARCH CONFIGURATION {name}")
    assert [h.chunk_id for h in hits] == [str(CHUNK_IDS[0])]


def test_an_unknown_fulltext_config_is_a_config_error_naming_the_setting(tiny, embedder):
    # the vector leg reads it too (section-title boost): it failed with the database's raw message
    with pytest.raises(ConfigError, match=r"retrieval\.fulltext_config: 'klingon' is not a text search .*german"):
        run_retrieval(tiny, embedder, RetrievalParams(fulltext_config="klingon"), modes=["vector"])


def test_a_mode_given_twice_is_measured_once(tiny, embedder):
    # `--mode vector --mode vector` repeated each per-query record, and `eval compare` refused the file
    result = run_retrieval(tiny, embedder, RetrievalParams(modes=["vector", "vector"]), modes=["fulltext", "fulltext"])
    assert [m.mode for m in result.modes] == ["fulltext"]
    assert [(r["mode"], r["query"]) for r in result.per_query_records()] == [("fulltext", "q-glacier")]
    assert [m.mode for m in run_retrieval(tiny, embedder, RetrievalParams(modes=["vector", "vector"])).modes] == [
        "vector"
    ]


def test_an_expected_chunk_the_database_no_longer_holds_is_a_warning(tiny, embedder):
    # a chunk a query expects deleted by hand (an import that would remove it is refused): it was scored as a
    # plain miss, without a word
    gone = uuid.uuid5(NS, "chunk-removed")
    with connection(tiny) as conn:
        conn.execute("INSERT INTO golden.query_expected VALUES ('q-glacier', 'chunk', %s, 1)", (gone,))
    try:
        result = run_retrieval(tiny, embedder, RetrievalParams(), modes=["fulltext"])
    finally:
        with connection(tiny) as conn:
            conn.execute("DELETE FROM golden.query_expected WHERE target_id = %s", (gone,))
    assert result.missing_expected == {"q-glacier": [str(gone)]}
    assert any(
        "1 scored query expects a chunk the database does not hold" in w and str(gone) in w for w in result.warnings
    )
    assert run_retrieval(tiny, embedder, RetrievalParams(), modes=["fulltext"]).warnings == []


def test_a_run_with_its_own_out_leaves_the_tracked_plots_alone(tiny, project: Path, capsys) -> None:
    """The plots dir is a DVC output of the pipeline's run (metrics to retrieval.out): a one-off run writing its
    metrics elsewhere rewrote its curves and deleted those of the modes it left out. Now it writes plots only
    where --plots-dir says."""
    eval_ = ["--database-url", tiny, "eval", "retrieval", "--mode", "fulltext"]
    plots = project / "reports" / "retrieval-plots"
    plots.mkdir(parents=True)
    (plots / "ndcg-vector.json").write_text("[]")
    code, _, err = run_cli([*eval_, "--out", "elsewhere.json"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in plots.iterdir()) == ["ndcg-vector.json"] and (project / "elsewhere.json").exists()
    code, out, err = run_cli([*eval_, "--out", "elsewhere.json", "--plots-dir", "mine"], capsys)
    assert code == 0 and f"wrote {project / 'mine' / 'ndcg-fulltext.json'}, " in out, err
    assert sorted(p.name for p in plots.iterdir()) == ["ndcg-vector.json"]
    assert run_cli(eval_, capsys)[0] == 0  # the pipeline's run: params' paths, the modes it left out removed
    assert sorted(p.name for p in plots.iterdir()) == ["ndcg-fulltext.json"]


def test_queries_whose_full_text_leg_matched_nothing_are_counted(tiny, embedder):
    """A CJK question gives PostgreSQL's parser no word to match: hybrid quietly became the vector leg alone."""
    with connection(tiny) as conn:
        conn.execute("UPDATE golden.queries SET text = '冰川如何塑造海岸附近的地貌？' WHERE id = 'q-glacier'")
    try:
        result = run_retrieval(tiny, embedder, RetrievalParams(), modes=["fulltext", "hybrid"])
    finally:
        with connection(tiny) as conn:
            conn.execute("UPDATE golden.queries SET text = %s WHERE id = 'q-glacier'", (QUESTION,))
    assert result.fulltext_empty == ["q-glacier"] and result.metrics()["queries.fulltext_no_match"] == 1
    assert result.warnings == [
        "1 of 1 scored queries matched no chunk in full text (fulltext returns nothing for them and hybrid is the "
        "vector leg alone; e.g. stop words only, or CJK text, which retrieval.fulltext_config 'english' does not "
        "split into words): q-glacier"
    ]
    matched = run_retrieval(tiny, embedder, RetrievalParams(), modes=["fulltext"])
    assert matched.fulltext_empty == [] and matched.metrics()["queries.fulltext_no_match"] == 0 and not matched.warnings
    vector = run_retrieval(tiny, embedder, RetrievalParams(), modes=["vector"])
    assert vector.fulltext_empty is None and "queries.fulltext_no_match" not in vector.metrics()


def test_eval_retrievals_warnings_show_a_hostile_query_id_inert(tiny, project: Path, capsys) -> None:
    """The warnings name query ids the database holds (a hand edit, an application's mapped table: any text):
    they were printed raw, so an id's escape sequence reached the terminal and a ``::`` line the CI runner."""
    hostile = "q-\x1b]8;;https://evil.test\x07x\n::error::y"
    with connection(tiny) as conn:
        conn.execute(
            "INSERT INTO golden.queries (id, text, domain, expected_behavior) "
            """VALUES (%s, '冰川如何塑造海岸附近的地貌？', 'test', '{"behavior": "answer"}')""",
            (hostile,),
        )
        conn.execute("INSERT INTO golden.query_expected VALUES (%s, 'chunk', %s, 1)", (hostile, CHUNK_IDS[0]))
    try:
        code, _, err = run_cli(
            ["--database-url", tiny, "eval", "retrieval", "--mode", "fulltext", "--out", "x.json"], capsys
        )
    finally:
        with connection(tiny) as conn:
            conn.execute("DELETE FROM golden.queries WHERE id = %s", (hostile,))
    assert code == 0, err
    assert "matched no chunk in full text" in err and "q-\\x1b]8;;https://evil.test\\x07x\\n::error::y\n" in err
    assert "\x1b" not in err and "\x07" not in err and "\n::" not in err
