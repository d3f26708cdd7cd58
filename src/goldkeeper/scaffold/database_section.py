"""params.yaml's ``database:`` section as ``init --from-database`` writes it, from an inferred mapping.

Each value goldkeeper inferred is written as a plain YAML value; each thing it could not infer is a
``# TODO`` comment where it belongs (a field under ``columns:``, the embedding under its table, a
table under ``tables:``), carrying the same reason as the line printed for it.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING

import yaml

from goldkeeper.dataset.inert import json_safe, terminal_safe

if TYPE_CHECKING:
    from goldkeeper.db.mapping_infer import Gap, InferredMapping, InferredTable

HEADER = (
    "\n# written by `goldkeeper init --from-database` from the database's schema; `goldkeeper db check` checks it.\n"
    "# Each `# TODO` is something it could not infer: fill it in (docs/configuration.md, `database`).\n"
)
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def scalar(value: str) -> str:
    """``value`` as a YAML scalar: plain when YAML reads it back as the same string, else double-quoted by
    YAML's own writer on one line (JSON's quoting wrote an emoji as a surrogate pair, which YAML reads back as
    another string), with no raw control character (json_safe: DEL, C1 and bidi controls as ``\\uXXXX``)."""
    if _PLAIN.match(value) and value.lower() not in _YAML_WORDS:
        return value
    return json_safe(yaml.safe_dump(value, default_style='"', allow_unicode=True, width=sys.maxsize).rstrip("\n"))


def comment(text: str) -> str:
    """``text`` (names read from the database) inert in a ``#`` comment: on one line (a line break, YAML's
    U+2028/U+2029 included, would end the comment and make the rest YAML), control characters escaped."""
    return terminal_safe(text).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _todo(indent: int, key: str, gap: Gap) -> str:
    return f"{' ' * indent}# TODO {key}: {comment(gap.reason)}\n"


def _table_text(table: InferredTable, gaps: list[Gap]) -> str:
    text = f"    {table.entity}:\n      table: {scalar(table.table)}\n"
    if table.entity == "analyses":
        text += "      # where: an SQL condition on its columns selecting the dataset's rows (none: every row)\n"
    text += "      columns:" + ("\n" if table.columns else " {}\n")
    for name, column in table.columns.items():
        text += f"        {name}: {scalar(column)}\n"
    for gap in gaps:
        if gap.key.startswith("columns."):
            text += _todo(8, gap.key.removeprefix("columns."), gap)
    if table.left_out:
        text += (
            f"      # left out (no column by that name; restored as the column default): {', '.join(table.left_out)}\n"
        )
    if table.embedding_column is not None:
        dim = f"  # vector({table.embedding_dim}): the embedding model must embed {table.embedding_dim} dimensions"
        text += (
            f"      embedding:\n        column: {scalar(table.embedding_column)}{dim if table.embedding_dim else ''}\n"
        )
        if table.model_column is not None:
            text += f"        model_column: {scalar(table.model_column)}\n"
    for gap in gaps:
        if not gap.key.startswith("columns."):
            text += _todo(6, gap.key, gap)
    return text


def render_database_section(inferred: InferredMapping) -> str:
    """The ``database:`` section (with its header comment) to append to params.yaml."""
    entities = {table.entity for table in inferred.tables}
    text = HEADER + "database:\n  tables:\n"
    for gap in inferred.gaps:
        if gap.entity not in entities:
            text += _todo(4, f"{gap.entity}.{gap.key}" if gap.key != "table" else gap.entity, gap)
    for table in inferred.tables:
        text += _table_text(table, [gap for gap in inferred.gaps if gap.entity == table.entity])
    for note in inferred.notes:
        text += f"    # queries: {comment(note)}\n"
    return text


__all__ = ["comment", "render_database_section", "scalar"]
