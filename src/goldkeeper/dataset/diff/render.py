"""Render a :class:`~goldkeeper.dataset.diff.DatasetDiff` for a terminal, a pull-request comment, or a machine.

- :func:`to_text`: plain text for a terminal, git-diff style (``A`` / ``D`` / ``M`` lines).
- :func:`to_markdown`: a pull-request comment: a summary table of counts first, then each
  change list in a collapsible ``<details>`` section, capped at ``max_chars`` (GitHub comments
  hold at most 65,536 characters) with "… and N more" where items had to be left out.
- :func:`to_json_bytes`: the stable JSON document (``schema_version`` 1, sorted keys; its JSON
  Schema is :data:`goldkeeper.dataset.diff.schema.DIFF_JSON_SCHEMA`).
"""

from __future__ import annotations

import orjson

from goldkeeper.dataset.diff.model import ACTIONS, KINDS, DatasetDiff, FieldChange, RecordChange, RecordRef
from goldkeeper.dataset.inert import log_safe, md_code, md_text
from goldkeeper.errors import UsageError

#: GitHub's limit on a comment body.
GITHUB_COMMENT_LIMIT = 65_536
#: field changes shown per modified record before "… and N more fields"
MAX_FIELDS = 12
#: longest rendering of one JSON value
MAX_VALUE = 100

_TITLES = {
    ("analyses", "added"): "Analyses added",
    ("analyses", "removed"): "Analyses removed",
    ("analyses", "modified"): "Analyses modified",
    ("chunks", "added"): "Chunks added",
    ("chunks", "removed"): "Chunks removed",
    ("chunks", "modified"): "Chunks modified",
    ("queries", "added"): "Queries added",
    ("queries", "removed"): "Queries removed",
    ("queries", "modified"): "Queries modified",
}
_MARK = {"added": "A", "removed": "D", "modified": "M"}
_SINGULAR = {"analyses": "analysis", "chunks": "chunk", "queries": "query"}
#: room kept in a markdown comment for each later section's header, "… and N more" and closing
_SECTION_RESERVE = 200
_SECTION_CLOSING = "\n</details>\n\n"


def render(result: DatasetDiff, fmt: str, max_md_chars: int = 60_000) -> bytes:
    """The diff in one of the output formats: ``text``, ``md`` or ``json``."""
    if fmt == "json":
        return to_json_bytes(result)
    if fmt == "md":
        return to_markdown(result, max_md_chars).encode("utf-8")
    if fmt == "text":
        return to_text(result).encode("utf-8")
    raise UsageError(f"unknown diff format {fmt!r} (text | md | json)")


def to_json_bytes(result: DatasetDiff) -> bytes:
    return orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def _value(value: object) -> str:
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()  # strings quoted, escaped, one line
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _change_text(change: FieldChange) -> str:
    if change.text_diff is not None:
        return f"{change.path}: {change.text_diff}"
    if change.action == "added":
        return f"{change.path}: added {_value(change.new)}"
    if change.action == "removed":
        return f"{change.path}: removed {_value(change.old)}"
    return f"{change.path}: {_value(change.old)} -> {_value(change.new)}"


def _ref_suffix(item: RecordRef | RecordChange) -> str:
    owner = f" (analysis {item.analysis_id})" if item.analysis_id else ""
    return f"{owner} {item.label}".rstrip()


# --------------------------------------------------------------------------- text


def _text_item(kind: str, action: str, item: RecordRef | RecordChange) -> list[str]:
    lines = [f"{_MARK[action]} {_SINGULAR[kind]} {item.id}{_ref_suffix(item)}"]
    if isinstance(item, RecordChange):
        lines += [f"    {_change_text(change)}" for change in item.changes[:MAX_FIELDS]]
        if len(item.changes) > MAX_FIELDS:
            lines.append(f"    ... and {len(item.changes) - MAX_FIELDS} more fields")
    return lines


def to_text(result: DatasetDiff) -> str:
    """Plain text for a terminal."""
    lines = [f"golden diff {result.old.short} -> {result.new.short}"]
    counts = result.counts()
    lines.append("  ".join(f"{kind}: +{c['added']} -{c['removed']} ~{c['modified']}" for kind, c in counts.items()))
    if result.is_empty:
        lines.append("no record changes")
    for kind in KINDS:
        for action in ACTIONS:
            for item in result.changes(kind, action):
                lines += _text_item(kind, action, item)
    if result.impacted_queries:
        lines.append(f"impacted queries ({len(result.impacted_queries)}):")
        for impact in result.impacted_queries:
            why = ", ".join(f"{r.kind} {r.id} {r.action}" for r in impact.reasons)
            lines.append(f"  {impact.query_id}: {why}")
    if result.url_violations:
        lines.append(f"URL contract violations introduced ({len(result.url_violations)}):")
        for v in result.url_violations:
            lines.append(f"  analysis {v.analysis_id}: {v.url}: {v.problem}")
    if result.store_problems:
        lines.append(
            f"store problems ({len(result.store_problems)}; the shards' bytes were compared, not the manifest):"
        )
        lines += [f"  {p.side}: {p.file}: {p.problem}" for p in result.store_problems]
    # record text: controls shown escaped, no line a CI workflow command
    return "\n".join(log_safe(line) for line in lines) + "\n"


# --------------------------------------------------------------------------- markdown


# record text goes into the comment only through these two (goldkeeper.dataset.inert): inert Markdown
_code = md_code
_md_label = md_text


def _md_change(change: FieldChange) -> str:
    if change.text_diff is not None:
        return f"  - {_code(change.path)}: {_code(change.text_diff)}"
    if change.action == "added":
        return f"  - {_code(change.path)} added: {_code(_value(change.new))}"
    if change.action == "removed":
        return f"  - {_code(change.path)} removed: {_code(_value(change.old))}"
    return f"  - {_code(change.path)}: {_code(_value(change.old))} → {_code(_value(change.new))}"


def _md_item(item: RecordRef | RecordChange) -> str:
    head = f"- {_code(item.id)}"
    if item.analysis_id:
        head += f" (analysis {_code(item.analysis_id)})"
    if isinstance(item, RecordRef) and item.url:
        head += f" {_code(item.url)}"
    head += f" {_md_label(item.label)}" if item.label else ""
    if not isinstance(item, RecordChange):
        return head + "\n"
    lines = [head] + [_md_change(change) for change in item.changes[:MAX_FIELDS]]
    if len(item.changes) > MAX_FIELDS:
        lines.append(f"  - … and {len(item.changes) - MAX_FIELDS} more fields")
    return "\n".join(lines) + "\n"


def _md_head(result: DatasetDiff) -> str:
    """The comment's head: the two sides, the summary, the table of counts, impact and URL violations."""
    old, new = result.old, result.new
    head = [
        "### Golden dataset diff\n",
        f"{_code(old.label)} ({_code(old.version[:12]) if old.version else 'no store'}) → "
        f"{_code(new.label)} ({_code(new.version[:12]) if new.version else 'no store'})\n",
    ]
    head.append("**No record changes.**\n" if result.is_empty else f"**Summary:** {result.summary_line()}\n")
    head += ["| | added | removed | modified |", "|---|---:|---:|---:|"]
    for kind, counts in result.counts().items():
        head.append(f"| {kind} | {counts['added']} | {counts['removed']} | {counts['modified']} |")
    head.append("")
    warn = "⚠️ " if result.url_violations else ""
    head.append(
        f"**Impacted queries:** {len(result.impacted_queries)} · "
        f"{warn}**URL contract violations introduced:** {len(result.url_violations)}\n"
    )
    if result.store_problems:
        head.append(
            f"⚠️ **Store problems:** {len(result.store_problems)} (a manifest does not match its shards; "
            "the shards' bytes were compared; run `goldkeeper fmt`)\n"
        )
    return "\n".join(head) + "\n"


def _md_sections(result: DatasetDiff) -> list[tuple[str, list[str]]]:
    """Each non-empty list as (title, rendered items): URL violations, impacted queries, then the changes."""
    sections: list[tuple[str, list[str]]] = []
    if result.store_problems:
        items = [f"- {p.side}: {_code(p.file)}: {_md_label(p.problem)}\n" for p in result.store_problems]
        sections.append(("Store problems (the manifest was not trusted)", items))
    if result.url_violations:
        items = [
            f"- analysis {_code(v.analysis_id)}: {_code(v.url)}: {_md_label(v.problem)}\n"
            for v in result.url_violations
        ]
        sections.append(("URL contract violations introduced", items))
    if result.impacted_queries:
        items = [
            f"- {_code(i.query_id)}: " + ", ".join(f"{r.kind} {_code(r.id)} {r.action}" for r in i.reasons) + "\n"
            for i in result.impacted_queries
        ]
        sections.append(("Impacted queries (expected chunks or analyses changed)", items))
    for kind in KINDS:
        for action in ACTIONS:
            changes = result.changes(kind, action)
            if changes:
                sections.append((_TITLES[kind, action], [_md_item(item) for item in changes]))
    return sections


def _md_fit(items: list[str], budget: int) -> str:
    """As many of ``items`` as fit in ``budget`` characters, in order, then "… and N more" for the rest."""
    body, shown = [], 0
    for item in items:
        if len(item) > budget:
            break
        body.append(item)
        budget -= len(item)
        shown += 1
    if shown < len(items):
        body.append(f"\n… and {len(items) - shown} more (left out to keep the comment under the size limit)\n")
    return "".join(body)


def to_markdown(result: DatasetDiff, max_chars: int = 60_000) -> str:
    """A pull-request comment body, never longer than ``max_chars`` characters."""
    if max_chars > GITHUB_COMMENT_LIMIT:
        raise ValueError(f"max_chars {max_chars} is above GitHub's comment limit {GITHUB_COMMENT_LIMIT}")
    out = _md_head(result)
    sections = _md_sections(result)
    for index, (title, items) in enumerate(sections):
        opening = f"<details><summary>{title} ({len(items)})</summary>\n\n"
        later = len(sections) - index - 1
        free = max_chars - len(out) - _SECTION_RESERVE * later - len(opening) - len(_SECTION_CLOSING) - 80
        budget = free // (later + 1) if later else free  # a fair share; what is unused flows on
        out += opening + _md_fit(items, budget) + _SECTION_CLOSING
    return out.rstrip() + "\n"


__all__ = ["GITHUB_COMMENT_LIMIT", "MAX_FIELDS", "MAX_VALUE", "render", "to_json_bytes", "to_text", "to_markdown"]
