"""SQuAD 2.0 JSON -> golden records (analyses with chunks, and queries).

The mapping (pure: no database, no clock, no randomness)::

    article   -> Analysis  url  https://en.wikipedia.org/wiki/<title>  (SQuAD titles already use "_")
                           title  the SQuAD title with "_" shown as spaces
                           status "completed", created_at 2018-06-11T00:00:00Z (SQuAD 2.0's release)
    paragraph -> Chunk     chunk_index = paragraph order, section_title = section_path[0] = title
    question  -> Query     id = SQuAD's question id, domain = title, tags ["squad-v2", answerable|unanswerable, wh:<word>]
        answerable:   expected.chunks = [its paragraph, relevance 1]; reference_answers = the distinct
                      answer texts in order; expected_behavior.behavior = "answer"
        unanswerable: expected empty, no reference answers (SQuAD's plausible_answers are wrong on
                      purpose); expected_behavior.behavior = "refuse" (cite-or-refuse)
        both: must_not ["answer_without_evidence", "fabricate_citation"]

Difficulty (a documented heuristic, not a human label): unanswerable questions are
``hard`` (the system must notice that the evidence is missing). For answerable
ones, the share of the question's content words (lower-cased alphanumeric
tokens of 3+ characters, not stop words) that occur in the paragraph:
>= 0.75 ``easy``, >= 0.5 ``medium``, else ``hard`` (paraphrased questions).

Ids are uuid5 in :data:`SQUAD_NAMESPACE` of ``article:<title>`` and
``chunk:<title>:<paragraph index>``, so importing the same file twice gives the
same records and a second restore skips them all.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from pydantic import ValidationError

from goldkeeper.dataset.restore import RestoreReport
from goldkeeper.embed.base import Embedder
from goldkeeper.errors import DataIntegrityError, RecordValidationError
from goldkeeper.importers.common import ImportedRecords, import_records, utf8_text
from goldkeeper.models import ENTITIES, Analysis, Chunk, Expected, ExpectedBehavior, Query, Relevance
from goldkeeper.progress import SILENT, Progress

#: uuid5 namespace of every id the SQuAD importer makes (uuid5(NAMESPACE_URL, "https://rajpurkar.github.io/SQuAD-explorer/")).
SQUAD_NAMESPACE = uuid.UUID("e55798b3-e69f-5361-a05e-dd7cb9efaa7d")
#: SQuAD 2.0's release (arXiv 1806.03822, 11 June 2018): the created_at of every imported article.
SQUAD_RELEASED = datetime(2018, 6, 11, tzinfo=UTC)
SAMPLE_NAME = "squad-v2-dev-12-articles.json"
#: the largest SQuAD file `import squad` reads unless told otherwise (--max-bytes); SQuAD 2.0 train is 40 MB.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
_BLOCK = 1024 * 1024
MUST_NOT = ["answer_without_evidence", "fabricate_citation"]
WH_WORDS = ("what", "who", "whom", "whose", "when", "where", "which", "why", "how")

_TOKEN = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    """the and for are was were what which who whom whose when where why how that this these those with from
    into onto than then there their they them does did done has have had not but its can could would should
    may might will shall been being also about after before over under between during other some such only
    any all each most more many much very one two same own out off per via upon""".split()
)


@dataclass(frozen=True)
class SquadImport:
    """The records of one SQuAD file, in the file's order."""

    analyses: list[Analysis]
    queries: list[Query]

    @property
    def counts(self) -> dict[str, int]:
        return {
            "analyses": len(self.analyses),
            "chunks": sum(len(a.chunks) for a in self.analyses),
            "queries": len(self.queries),
            "refuse": sum(1 for q in self.queries if q.expected_behavior.behavior == "refuse"),
        }


def sample_path() -> Path:
    """The packaged sample: 12 articles of the SQuAD 2.0 dev set (see data/PROVENANCE.md)."""
    return Path(str(resources.files("goldkeeper") / "data" / SAMPLE_NAME))


def article_url(title: str) -> str:
    """The canonical English Wikipedia URL of a SQuAD article title."""
    return "https://en.wikipedia.org/wiki/" + quote(title.replace(" ", "_"), safe="_()',-.:!")


def analysis_id(title: str) -> uuid.UUID:
    return uuid.uuid5(SQUAD_NAMESPACE, f"article:{title}")


def chunk_id(title: str, paragraph_index: int) -> uuid.UUID:
    return uuid.uuid5(SQUAD_NAMESPACE, f"chunk:{title}:{paragraph_index}")


def _content_words(text: str) -> set[str]:
    return {t for t in _TOKEN.findall(text.lower()) if len(t) >= 3 and t not in _STOP}


def difficulty(question: str, paragraph: str, answerable: bool) -> str:
    """The documented heuristic of the module docstring."""
    if not answerable:
        return "hard"
    words = _content_words(question)
    if not words:
        return "medium"
    overlap = len(words & _content_words(paragraph)) / len(words)
    return "easy" if overlap >= 0.75 else "medium" if overlap >= 0.5 else "hard"


def wh_word(question: str) -> str:
    tokens = _TOKEN.findall(question.lower())
    for token in tokens:
        if token in WH_WORDS:
            return "who" if token in ("whom", "whose") else token
    return "other"


def _field(obj: Any, key: str, kind: type, where: str, file: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise RecordValidationError(file, where, key, "missing")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RecordValidationError(file, where, key, f"must be {kind.__name__}, got {type(value).__name__}")
    return value


def parse_squad(data: Any, *, file: str = "<squad>") -> SquadImport:
    """SQuAD 2.0 JSON (already decoded) -> records. Errors name the file, the article/question and the field."""
    if not isinstance(data, Mapping):
        raise DataIntegrityError(f"{file}: not a SQuAD file (the top level must be an object with 'data')")
    articles = _field(data, "data", list, "(top level)", file)
    analyses: list[Analysis] = []
    queries: list[Query] = []
    seen_titles: set[str] = set()
    seen_questions: set[str] = set()
    for a_index, article in enumerate(articles):
        where = f"data[{a_index}]"
        title = _article_title(article, where, file, seen_titles)
        chunks: list[Chunk] = []
        for p_index, paragraph in enumerate(_field(article, "paragraphs", list, where, file)):
            chunk, paragraph_queries = _parse_paragraph(paragraph, title, p_index, file, seen_questions)
            chunks.append(chunk)
            queries.extend(paragraph_queries)
        analyses.append(_analysis(title, chunks, file))
    return SquadImport(analyses=analyses, queries=queries)


def _article_title(article: Any, where: str, file: str, seen: set[str]) -> str:
    """The article's title: present, not blank, not seen before in the file (it makes the article's id)."""
    title: str = _field(article, "title", str, where, file)
    if not title.strip():
        raise RecordValidationError(file, where, "title", "empty")
    if title in seen:
        raise RecordValidationError(file, where, "title", f"duplicate article {title!r}")
    seen.add(title)
    return title


def _parse_paragraph(
    paragraph: Any, title: str, p_index: int, file: str, seen_questions: set[str]
) -> tuple[Chunk, list[Query]]:
    """One paragraph -> its chunk and the queries of its questions."""
    p_where = f"{title} paragraph {p_index}"
    shown = title.replace("_", " ")
    context = _field(paragraph, "context", str, p_where, file)
    cid = chunk_id(title, p_index)
    chunk = Chunk(
        id=cid, content=context, section_title=shown, section_path=[shown], content_type="text", chunk_index=p_index
    )
    queries = [
        _parse_question(
            qa, f"{p_where} question {q_index}", file, seen_questions, domain=shown, context=context, cid=cid
        )
        for q_index, qa in enumerate(_field(paragraph, "qas", list, p_where, file))
    ]
    return chunk, queries


def _parse_question(
    qa: Any, q_where: str, file: str, seen: set[str], *, domain: str, context: str, cid: uuid.UUID
) -> Query:
    """One question -> a query expecting its paragraph (answerable) or a refusal (unanswerable)."""
    qid = _field(qa, "id", str, q_where, file)
    if qid in seen:
        raise RecordValidationError(file, qid, "id", "duplicate question id")
    seen.add(qid)
    text = _field(qa, "question", str, qid, file)
    impossible = _field(qa, "is_impossible", bool, qid, file) if "is_impossible" in qa else False
    references = _reference_answers(_field(qa, "answers", list, qid, file), qid, file)
    answerable = not impossible
    if answerable and not references:
        raise RecordValidationError(file, qid, "answers", "an answerable question without answers")
    try:
        return Query(
            id=qid,
            text=text.strip() or text,
            domain=domain,
            difficulty=difficulty(text, context, answerable),
            tags=["squad-v2", "answerable" if answerable else "unanswerable", f"wh:{wh_word(text)}"],
            expected=Expected(chunks=[Relevance(id=cid, relevance=1)]) if answerable else Expected(),
            reference_answers=references if answerable else [],
            expected_behavior=ExpectedBehavior(behavior="answer" if answerable else "refuse", must_not=list(MUST_NOT)),
        )
    except ValidationError as exc:
        raise _record_error(file, qid, exc) from exc


def _reference_answers(answers: list[Any], qid: str, file: str) -> list[str]:
    """The distinct answer texts, in the file's order."""
    references: list[str] = []
    for n, answer in enumerate(answers):
        answer_text = _field(answer, "text", str, qid, file) if isinstance(answer, Mapping) else None
        if answer_text is None:
            raise RecordValidationError(file, qid, f"answers[{n}]", "must be an object with 'text'")
        if answer_text not in references:
            references.append(answer_text)
    return references


def _analysis(title: str, chunks: list[Chunk], file: str) -> Analysis:
    """The article as a completed analysis holding its paragraphs' chunks."""
    aid = analysis_id(title)
    try:
        return Analysis(
            id=aid,
            url=article_url(title),
            title=title.replace("_", " "),
            content_type="text",
            status="completed",
            created_at=SQUAD_RELEASED,
            chunks=chunks,
        )
    except ValidationError as exc:
        raise _record_error(file, str(aid), exc) from exc


def _record_error(file: str, record: str, exc: ValidationError) -> RecordValidationError:
    """pydantic's first error on a record, as goldkeeper reports a bad record (file, record id, field, message)."""
    first = exc.errors()[0]
    return RecordValidationError(file, record, ".".join(str(p) for p in first["loc"]), first["msg"])


def read_limited(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """The bytes of a JSON file of at most ``max_bytes``, read in blocks (devices and pipes included).

    A regular file over the limit is refused from its size before reading; anything else is read a
    block at a time and refused as soon as it passes the limit, or at its first block when that does
    not start like JSON (``/dev/zero``: NUL bytes), so memory never grows past the limit.
    """
    try:
        with path.open("rb") as handle:
            if path.is_file() and path.stat().st_size > max_bytes:
                raise DataIntegrityError(_too_large(path, max_bytes))
            blocks: list[bytes] = []
            size = 0
            while block := handle.read(_BLOCK):
                if not blocks and block.lstrip(b" \t\r\n")[:1] not in (b"{", b"["):
                    first = block[:1]
                    raise DataIntegrityError(f"{path}: not valid JSON: it starts with byte {first!r}, not '{{'")
                blocks.append(block)
                size += len(block)
                if size > max_bytes:
                    raise DataIntegrityError(_too_large(path, max_bytes))
    except OSError as exc:
        raise DataIntegrityError(f"{path}: cannot read: {exc.strerror}") from exc
    return b"".join(blocks)


def _too_large(path: Path, max_bytes: int) -> str:
    return f"{path}: larger than the import limit of {max_bytes:,} bytes (raise it with --max-bytes)"


def load_squad(path: Path | str, max_bytes: int = DEFAULT_MAX_BYTES) -> SquadImport:
    """Read (at most ``max_bytes``) and parse a SQuAD 2.0 JSON file."""
    path = Path(path)
    raw = utf8_text(read_limited(path, max_bytes), str(path))
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DataIntegrityError(f"{path}: not valid JSON: {exc}") from exc
    return parse_squad(data, file=str(path))


def read_squad(
    path: Path, kind: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES, progress: Progress = SILENT
) -> ImportedRecords:
    """A SQuAD file (at most ``max_bytes``) as imported records (both kinds: ``replace`` makes the database
    hold exactly the file)."""
    del kind  # a SQuAD file holds both kinds
    with progress.task("reading the squad file", None):  # parsed whole, before the database: seconds for a large one
        records = load_squad(path, max_bytes)
    totals = (len(records.analyses), len(records.queries))
    return ImportedRecords(records.analyses, records.queries, kinds=frozenset(ENTITIES), totals=totals)


def import_squad(
    url: str,
    path: Path | str | None,
    embedder: Embedder,
    *,
    replace: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    batch_size: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> RestoreReport:
    """Parse a SQuAD file (None: the packaged sample) and restore its records into the database.

    Returns restore's :class:`~goldkeeper.dataset.restore.RestoreReport`: a second import of the same file
    skips every record. The path every importer takes (:func:`goldkeeper.importers.common.import_records`).
    """
    source = Path(path) if path is not None else sample_path()
    return import_records(
        url,
        read_squad(source, max_bytes=max_bytes, progress=progress or SILENT),
        embedder,
        replace=replace,
        dry_run=dry_run,
        progress=progress or SILENT,
        batch_size=batch_size,
        source=str(source),
    )


__all__ = [
    "SQUAD_NAMESPACE",
    "SQUAD_RELEASED",
    "DEFAULT_MAX_BYTES",
    "SquadImport",
    "sample_path",
    "article_url",
    "analysis_id",
    "chunk_id",
    "difficulty",
    "parse_squad",
    "load_squad",
    "read_limited",
    "read_squad",
    "import_squad",
]
