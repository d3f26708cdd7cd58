"""Record text made inert: for terminals and text files, and for Markdown (pull-request comments, summary.md).

Record text is whatever a dataset holds (titles, chunk text, ids, URLs, commit messages, messages
that quote them), so it may hold escape sequences or Markdown written to do harm:

- :func:`terminal_safe`: control characters are shown escaped (``\\x1b``, ``\\n``, ``\\u202e``):
  C0, DEL, C1 and the bidirectional overrides, so no ESC/OSC sequence (screen clears, hidden text,
  fake hyperlinks, a rewritten line after ``\\r``) reaches a terminal. Every text rendering uses it:
  ``diff`` (text), ``show``, ``log``, ``verify``, ``changelog`` and error messages.
- :func:`log_safe`: :func:`terminal_safe` for what goldkeeper prints (stdout, stderr, ``diff`` text), which CI
  logs also read: GitHub's runner takes a line starting with ``::`` (after blanks) or holding ``##[`` anywhere
  as a workflow command (``::error::``, ``##[stop-commands]``), so that ``:`` is shown as ``\\x3a`` and
  that ``[`` as ``\\x5b``: record text cannot add annotations, masks or outputs to a run, nor stop its commands.
- :func:`json_safe`: the same for JSON printed to a terminal (``--json``, ``diff --format json``), as
  ``\\uXXXX`` escapes that decode to the same data.
- :func:`md_code`: a code span whose backtick fence is longer than any backtick run inside, so the
  text cannot close it (inside, the renderer escapes HTML and GitHub links no mention).
- :func:`md_text`: prose with every character Markdown or HTML reads as syntax backslash-escaped
  (emphasis, links, images, raw HTML and ``</details>``, tables, headings, lists, entities,
  autolinks) and ``@mentions`` / ``#refs`` broken with a zero-width space, so nobody is pinged.

Both Markdown forms are one line: newlines inside record text are shown as ``\\n``.
"""

from __future__ import annotations

import re

#: code points shown escaped: C0 controls, DEL, C1 controls, and the bidirectional overrides/isolates
_CONTROLS = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F)]
_CONTROLS += [*range(0x2066, 0x206A)]
_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
_ESCAPE_ALL = {c: _NAMED.get(c, f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _CONTROLS}
_ESCAPE_KEEP_LINES = {c: s for c, s in _ESCAPE_ALL.items() if c not in (0x09, 0x0A)}
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in _CONTROLS if c >= 0x20}  # C0 is escaped by every JSON encoder

#: ASCII punctuation Markdown (CommonMark, GFM, GitHub's math and emoji) or HTML can read as syntax in a line
_MD_SYNTAX = frozenset("\\`*_{}[]()<>#+!|~&:$")
#: characters that start a GitHub mention or reference: a zero-width space after them breaks the link
_MD_PINGS = frozenset("@#")
_ZWSP = "\u200b"
#: what GitHub's runner reads as a workflow command: ``::`` starting a line after blanks (.NET's TrimStart,
#: any Unicode blank), and the legacy ``##[`` anywhere in a line (actions/runner ActionCommand.TryParse)
_WORKFLOW_LINE = re.compile(r"^(\s*):(?=:)", re.MULTILINE)
_WORKFLOW_LEGACY = "##["


def terminal_safe(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` with control characters shown escaped; newlines and tabs kept only with ``keep_newlines``."""
    return text.translate(_ESCAPE_KEEP_LINES if keep_newlines else _ESCAPE_ALL)


def log_safe(text: str, *, keep_newlines: bool = False) -> str:
    """:func:`terminal_safe`, and no line of it a GitHub workflow command (``\\x3a:error::``, ``##\\x5berror]``)."""
    text = _WORKFLOW_LINE.sub(r"\1\\x3a", terminal_safe(text, keep_newlines=keep_newlines))
    return text.replace(_WORKFLOW_LEGACY, "##\\x5b")


def json_safe(document: str) -> str:
    """A JSON document with the control characters JSON encoders leave raw (DEL, C1, bidi) as ``\\uXXXX``.

    They can only occur inside JSON strings, where ``\\uXXXX`` is the same value: the document
    decodes to exactly the same data, and a terminal showing it receives no control character.
    """
    # a JSON line never starts with ``::``; ``##[`` can only be inside a string, where ``\\u005b`` is ``[``
    return document.translate(_JSON_ESCAPES).replace(_WORKFLOW_LEGACY, "##\\u005b")


def md_code(text: str, *, table: bool = False) -> str:
    """``text`` as one inline code span that nothing inside can close (``|`` escaped in table cells)."""
    text = terminal_safe(text)
    if table:
        text = text.replace("|", "\\|")
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if "`" in text or text[:1] == " " or text[-1:] == " " or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_text(text: str) -> str:
    """``text`` as inert Markdown prose on one line: syntax escaped, mentions and references broken."""
    text = terminal_safe(text).strip()
    out = []
    for index, char in enumerate(text):
        if char in _MD_SYNTAX or (index == 0 and char in "-="):
            out.append("\\" + char)
        elif char == "." and (text[:index].isdigit() or text[max(0, index - 3) : index].lower() == "www"):
            out.append("\\.")  # an ordered list item at the start; a www. autolink anywhere
        else:
            out.append(char)
        if char in _MD_PINGS:
            out.append(_ZWSP)
    return "".join(out)


__all__ = ["json_safe", "log_safe", "md_code", "md_text", "terminal_safe"]
