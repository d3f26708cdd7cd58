"""Issue 11 items 7 and 8: record text is inert in Markdown and on terminals.

Markdown (the PR comment of `diff --format md`, the report's summary.md) is rendered with a
CommonMark renderer (markdown-it-py, raw HTML on, GFM tables and strikethrough): a document holding
a hostile corpus in every record field renders to exactly the tags of the same document holding
harmless text, and no live @mention is left. Terminal and text output (`diff`, `show`, `log`,
`verify`, changelog, error lines) show control characters escaped.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from cli_support import run_cli
from diff_support import commit_all, init_repo, make_analysis, make_query
from goldkeeper.dataset.diff.model import (
    DatasetDiff,
    FieldChange,
    Impact,
    ImpactReason,
    RecordChange,
    RecordRef,
    Side,
    UrlViolation,
)
from goldkeeper.dataset.diff.render import to_markdown, to_text
from goldkeeper.dataset.inert import json_safe, md_code, md_text, terminal_safe
from goldkeeper.quality.report import build_summary
from goldkeeper.quality.report.charts import chart
from goldkeeper.quality.report.html import render_html
from goldkeeper.quality.report.markdown import render_markdown
from goldkeeper.store import write_store
from quality_support import identity
from test_quality_report import NOW, scenario

HOSTILE = [
    "``<img src=x onerror=alert(1)>``",
    "`` ` ``` <script>alert(1)</script>",
    "</details><details open><summary>fake</summary>",
    "<!-- c --> <b>bold</b> &lt;i&gt; &#60;script&#62; &amp;",
    "@octocat please look, cc @org/team and user@example.com",
    "[click](javascript:alert(1)) ![x](http://evil/x.png) <https://evil.example> [ref]: http://x",
    "*em* **strong** _u_ ~~del~~ $x^2$ :smile: #123",
    "# heading",
    "- item",
    "+ item",
    "1. item",
    "2) item",
    "> quote",
    "    indented code",
    "=====",
    "| a | b |\n|---|---|\n| c | d |",
    "line1\n\n<script>x</script>\n```\nfence\n",
    "\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ \x1b[2J\x9b31m\u202egnp.exe\r\x07\x00",
    "www.evil.example https://evil.example/x",
    "\\",
    "\\`",
    "`",
    "``````",
    " ` ",
    " leading and trailing  ",
    "",
]
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
MENTION = re.compile(r"(?<![\w`])@[A-Za-z0-9]")
RENDERER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


class _Tags(HTMLParser):
    """The start tags of an HTML document (with their attributes) and its text outside <code>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.text: list[str] = []
        self._code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag + "".join(f" {k}={v}" for k, v in sorted(attrs))] += 1
        self._code += tag == "code"

    def handle_endtag(self, tag: str) -> None:
        self._code -= tag == "code"

    def handle_data(self, data: str) -> None:
        if not self._code:
            self.text.append(data)


def rendered(markdown: str) -> _Tags:
    parser = _Tags()
    parser.feed(RENDERER.render(markdown))
    return parser


def harmless(text: str) -> str:
    # md_text drops the spaces around prose, so text of spaces alone is empty prose, as "" is
    return "x" if text.strip(" ") else ""


def a_diff(s: str) -> DatasetDiff:
    """Every record string of a diff is ``s`` (ids, labels, URLs, paths, values, word diffs, problems)."""
    counts = {"analyses": 1, "chunks": 1, "queries": 1}
    change = FieldChange(path=s, action="modified", old=s, new=s)
    words = FieldChange(path=s, action="modified", old=s, new=s + "!", text_diff=s)
    return DatasetDiff(
        old=Side(label=s, version="a" * 64, dataset=s, counts=counts),
        new=Side(label=s, version="b" * 64, dataset=s, counts=counts),
        analyses_added=(RecordRef(id=s, label=s, url=s),),
        analyses_modified=(RecordChange(id=s, label=s, changes=(change, words)),),
        chunks_removed=(RecordRef(id=s, label=s, analysis_id=s),),
        chunks_modified=(RecordChange(id=s, label=s, changes=(words,), analysis_id=s),),
        queries_added=(RecordRef(id=s, label=s),),
        impacted_queries=(Impact(query_id=s, reasons=(ImpactReason(kind="chunk", id=s, action="modified"),)),),
        url_violations=(UrlViolation(analysis_id=s, url=s, problem=s),),
    )


def assert_inert(markdown: str, benign: str) -> None:
    hostile, expected = rendered(markdown), rendered(benign)
    assert hostile.tags == expected.tags, (hostile.tags - expected.tags, markdown)
    live = [t for t in hostile.text if MENTION.search(t)]
    assert not live, live


@pytest.mark.parametrize("s", HOSTILE)
def test_pr_comment_renders_record_text_inert(s: str) -> None:
    assert_inert(to_markdown(a_diff(s)), to_markdown(a_diff(harmless(s))))


hostile_text = st.lists(st.sampled_from(HOSTILE) | st.text(alphabet="`<>/&@#*_[]()!|~\\:\n -=1.x", max_size=12)).map(
    "".join
)


@settings(max_examples=150, derandomize=True, deadline=None, database=None)
@given(s=hostile_text)
def test_pr_comment_is_inert_for_generated_text(s: str) -> None:
    assert_inert(to_markdown(a_diff(s)), to_markdown(a_diff(harmless(s))))


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(s=hostile_text)
@example(s=" ")  # spaces alone: empty prose (hypothesis found it only in some runs)
def test_md_code_and_md_text_are_one_inert_inline(s: str) -> None:
    table = "| {} | b |\n|---|---|\n| {} | d |"
    for markdown, benign in ((md_code(s), md_code(harmless(s))), (md_text(s), md_text(harmless(s)))):
        for context in ("{}", "- {}", "x {} y", table):
            if markdown.startswith("`") and context == table:  # a code span in a table cell: table=True
                markdown, benign = md_code(s, table=True), md_code(harmless(s), table=True)
            assert_inert(context.replace("{}", markdown), context.replace("{}", benign))
        assert "\n" not in markdown and not CONTROLS.search(markdown)
    code = RENDERER.render(md_code(s))
    assert code.count("<code>") == 1  # one span holding all of it
    assert not re.search(r"(?<!\\):|www\.", md_text(s), re.IGNORECASE)  # no GFM autolink (scheme:, www.)


@pytest.mark.parametrize("s", HOSTILE)
def test_summary_md_renders_record_text_inert(tmp_path: Path, s: str) -> None:
    summary = build_summary(scenario(tmp_path, identity(prompt="v1")), now=NOW)

    def poisoned(text: str) -> dict[str, Any]:
        latest = summary["latest"]
        return {
            **summary,
            "warnings": [{**w, "code": text, "message": text} for w in summary["warnings"]],
            "latest": {
                **latest,
                "id": text,
                "timestamp": text,
                "baselineKey": text,
                "identity": {k: text for k in latest["identity"]},
                "reasons": [{**r, "message": text} for r in latest["reasons"]],
                "metrics": {text or "m": 0.5},
                "floors": {},
            },
        }

    assert_inert(render_markdown(poisoned(s)), render_markdown(poisoned(harmless(s))))


# --------------------------------------------------------------------------- terminals (item 8)


def test_terminal_safe_escapes_every_control_and_keeps_text() -> None:
    assert terminal_safe("a\x1b[2Jb\x9b\u202ec\r\n\t\x00é漢") == "a\\x1b[2Jb\\x9b\\u202ec\\r\\n\\t\\x00é漢"
    assert terminal_safe("l1\nl2\tx\x07", keep_newlines=True) == "l1\nl2\tx\\x07"
    everything = "".join(map(chr, range(0x3000)))
    assert not CONTROLS.search(terminal_safe(everything)) and "\n" not in terminal_safe(everything)


@pytest.mark.parametrize("s", [*HOSTILE, "\x7f\x85\x9b\u202e\u2066"])
def test_json_safe_keeps_the_data_and_drops_raw_controls(s: str) -> None:
    document = orjson.dumps({"k": s, s: [s]}, option=orjson.OPT_INDENT_2).decode()
    safe = json_safe(document)
    assert json.loads(safe) == {"k": s, s: [s]} and not CONTROLS.search(safe)


@pytest.mark.parametrize("s", HOSTILE)
def test_diff_text_shows_controls_escaped_and_keeps_its_lines(s: str) -> None:
    text = to_text(a_diff(s))
    assert not CONTROLS.search(text)
    assert text.count("\n") == to_text(a_diff(harmless(s))).count("\n")  # no line made or hidden by record text


def strings(node: Any) -> list[str]:
    """Every string value in a decoded JSON document."""
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return [node] if isinstance(node, str) else []


EVIL = "Evil\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\\x1b[2J\x9b1m\u202e"


def committed_store(tmp_path: Path, monkeypatch) -> tuple[Path, list, list]:
    """A git repository (the cwd) with a store of 2 analyses and 3 queries committed; its records."""
    repo = init_repo(tmp_path)
    monkeypatch.chdir(repo)
    analyses = [make_analysis(n) for n in range(2)]
    queries = [make_query(n, 2) for n in range(3)]
    write_store(repo / "golden", "t", analyses, queries, {"analyses": 1, "queries": 1})
    commit_all(repo, "base")
    return repo, analyses, queries


def test_cli_diff_show_log_verify_and_errors_escape_controls(tmp_path: Path, monkeypatch, capsys) -> None:
    """Real files, real git: the escape sequences in records, the manifest and a commit message stay visible."""
    repo, analyses, queries = committed_store(tmp_path, monkeypatch)
    evil = analyses[0].model_copy(update={"title": EVIL, "url": "ftp://docs.acme-corp.io/" + EVIL + "\nFAKE: all good"})
    write_store(repo / "golden", EVIL, [evil, analyses[1]], queries, {"analyses": 1, "queries": 1})
    commit_all(repo, "edit " + EVIL)
    runs = [
        run_cli(argv, capsys)
        for argv in (
            ["diff", "HEAD~1", "HEAD"],
            ["show"],
            ["log"],
            ["verify"],
            ["diff", "no-such-rev" + EVIL],
            ["diff", "HEAD~1", "HEAD", "--format", "json"],
            ["show", "--json"],
            ["log", "--json"],
        )
    ]
    for _, out, err in runs:
        assert not CONTROLS.search(out + err), out + err
    (diff_code, diff, _), (show_code, show, _), (_, log, _), (verify_code, verify, _), (bad_code, _, bad) = runs[:5]
    diff_json, show_json, log_json = (json.loads(out) for _, out, _ in runs[5:])  # valid JSON, the same data
    assert show_json["dataset"] == EVIL and log_json[0]["summary"] == "edit " + EVIL
    assert EVIL in strings(diff_json)
    assert diff_code == 0 and "title: " in diff and "Evil\\x1b]8;;http://evil.example\\x1b\\click" in diff
    assert show_code == 0 and "dataset Evil\\x1b]8" in show
    assert "edit Evil\\x1b]8" in log and "\\u202e" in log
    assert verify_code == 5 and "docs.acme-corp.io/Evil\\x1b]8" in verify
    assert "\\nFAKE: all good" in verify and not any(line.startswith("FAKE") for line in verify.splitlines())
    assert bad_code != 0 and bad.startswith("error: ") and "no-such-revEvil\\x1b]8" in bad


def workflow_commands(output: str) -> list[str]:
    """The lines GitHub's runner reads as workflow commands (actions/runner ActionCommand.TryParseV2 / TryParse)."""
    return [line for line in output.splitlines() if line.lstrip().startswith("::") or "##[" in line]


def test_cli_output_holds_no_github_workflow_command(tmp_path: Path, monkeypatch, capsys) -> None:
    """A valid query id, record text and a commit message cannot add annotations to (or stop) a CI run's commands."""
    repo, analyses, queries = committed_store(tmp_path, monkeypatch)
    sneaky = "##[stop-commands]tok ##[error]fake"
    evil = analyses[0].model_copy(update={"title": sneaky, "url": "https://example.com/##[error]placeholder"})
    injected = queries[0].model_copy(update={"id": "::error::q", "text": "\u2003::warning::" + sneaky})
    write_store(repo / "golden", "t", [evil, analyses[1]], [*queries, injected], {"analyses": 1, "queries": 1})
    commit_all(repo, "::error::subject " + sneaky)
    runs = {
        " ".join(argv): run_cli(argv, capsys)
        for argv in (
            ["diff", "HEAD~1", "HEAD"],
            ["log"],
            ["verify"],
            ["diff", "HEAD~1", "HEAD", "--format", "json"],
            ["log", "--json"],
            ["verify", "--json"],
        )
    }
    for argv, (_, out, err) in runs.items():
        assert not workflow_commands(out + err), (argv, out + err)
    diff = runs["diff HEAD~1 HEAD"][1]
    assert "  \\x3a:error::q: analysis" in diff and "##\\x5bstop-commands]tok" in diff
    assert "    \\x3a:error::subject ##\\x5bstop-commands]tok" in runs["log"][1]
    assert runs["verify"][0] == 5 and "https://example.com/##\\x5berror]placeholder" in runs["verify"][1]
    diff_json = json.loads(runs["diff HEAD~1 HEAD --format json"][1])  # the same data
    assert "::error::q" in strings(diff_json) and sneaky in strings(diff_json)
    assert json.loads(runs["log --json"][1])[0]["summary"] == "::error::subject " + sneaky


def test_dashboard_html_shows_controls_escaped(tmp_path: Path) -> None:
    # HTML escaping leaves ESC and bidi overrides raw: "\u202e" made a metric name read backwards on the page
    summary = build_summary(scenario(tmp_path, identity(prompt="v1\u202egnp.exe")), now=NOW)
    hostile = "x\u202eliaf\x1b]8;;http://evil\x1b\\"
    summary["latest"]["metrics"] = {hostile: 0.5}
    page = render_html(summary) + chart(hostile, [{"runId": hostile, "timestamp": NOW, "value": 0.5}], None)
    assert not CONTROLS.search(page)
    assert "x\\u202eliaf\\x1b]8;;http://evil\\x1b\\" in page and "v1\\u202egnp.exe" in page
