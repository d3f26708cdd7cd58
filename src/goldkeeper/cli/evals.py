"""``goldkeeper eval``: measure retrieval and grounded-answer quality.

Other capabilities add their subcommands to :data:`eval_group` (e.g. ``eval grounded``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from goldkeeper.cli.main import AppState, InputFile, input_file, pass_state
from goldkeeper.cli.output import echo_document, echo_json, echo_text
from goldkeeper.project import compare_per_query, evaluate_trec


@click.group("eval")
def eval_group() -> None:
    """Evaluate retrieval (vector, full text, hybrid RRF) and answers against the golden dataset."""


@eval_group.command("trec")
@click.argument("qrels", type=InputFile())
@click.argument("run", type=InputFile())
@click.option("-q", "per_query", is_flag=True, help="Also print every measure per query (then the `all` summary).")
@click.option(
    "-m",
    "measures",
    multiple=True,
    metavar="MEASURE",
    help="trec_eval measure: `official` (default), `all_trec`, a name (`ndcg_cut`), a name with "
    "cutoffs (`P.5,10`) or parameters (`ndcg.1=1,2=5,3=10`, `rbp.p=0.8`). Repeatable.",
)
@click.option("-c", "complete", is_flag=True, help="Also evaluate judged queries the run has no results for (as 0).")
@click.option("--json", "as_json", is_flag=True, help="Print {summary, per_query, num_q} as JSON instead.")
def trec(qrels: Path, run: Path, per_query: bool, measures: tuple[str, ...], complete: bool, as_json: bool) -> None:
    """Evaluate a TREC run file against a qrels file, printing trec_eval's own output format.

    QRELS lines are `qid iter docno rel`; RUN lines are `qid Q0 docno rank score runid`. Documents are
    ranked by score descending, ties by docno descending (the rank column is ignored), exactly as
    trec_eval 10 does; values match it to all printed decimals.
    """
    qrels, run = input_file("qrels", qrels), input_file("run", run)
    report = evaluate_trec(qrels, run, measures or None, complete=complete)
    if as_json:
        echo_json(report.to_json())
    else:
        echo_document(report.to_trec_eval(per_query=per_query))  # qids and runid are the user's text


#: where ``eval retrieval`` writes (defaults: params ``retrieval:``), in --help's order
_RETRIEVAL_OUTPUTS = (
    click.option(
        "--out", type=click.Path(dir_okay=False, path_type=Path), help="Aggregate metrics JSON (default retrieval.out)."
    ),
    click.option(
        "--per-query",
        "per_query",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Per-query results JSON (default retrieval.per_query).",
    ),
    click.option(
        "--trec-dir", type=click.Path(file_okay=False, path_type=Path), help="Folder for the TREC run/qrels files."
    ),
    click.option(
        "--plots-dir",
        "plots_dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder for the per-mode nDCG@k curves (default retrieval.plots_dir, written only when the metrics "
        "go to retrieval.out: a run with --out elsewhere leaves the plots alone).",
    ),
)


def _retrieval_outputs(command: Callable[..., Any]) -> Callable[..., Any]:
    """The output options of ``eval retrieval``, applied as stacked decorators would be."""
    for option in reversed(_RETRIEVAL_OUTPUTS):
        command = option(command)
    return command


@eval_group.command("retrieval")
@click.option(
    "--mode",
    "modes",
    multiple=True,
    type=click.Choice(["vector", "fulltext", "hybrid"]),
    help="Search mode; repeatable. Default: retrieval.modes in params.yaml (all three).",
)
@click.option(
    "--k",
    "k",
    type=click.IntRange(min=1),
    help="Cutoff of P@k, recall@k, nDCG@k, pass rate@k (default retrieval.k, 10).",
)
@_retrieval_outputs
@click.option("--json", "as_json", is_flag=True, help="Print the aggregate metrics as JSON.")
@pass_state
def retrieval(
    state: AppState,
    modes: tuple[str, ...],
    k: int | None,
    out: Path | None,
    per_query: Path | None,
    trec_dir: Path | None,
    plots_dir: Path | None,
    as_json: bool,
) -> None:
    """Run every golden query against the restored database and score the rankings.

    Searches golden.chunks (with params database: the mapped chunks) in each mode (vector: pgvector
    cosine on the HNSW index; fulltext: tsvector + ts_rank_cd; hybrid: reciprocal rank fusion), then
    scores with trec_eval's definitions: P@k, recall@k, MRR, nDCG@k, MAP, R-precision, pass rate@k.
    Queries that expect a refusal (no relevant chunk) are counted, not scored. Writes the flat metrics JSON (dvc metrics), the per-query results
    (dvc plots, `goldkeeper eval compare`) and the TREC run + qrels files. Restore first.
    """
    run = state.project().eval_retrieval(
        modes=modes or None, k=k, out=out, per_query=per_query, trec_dir=trec_dir, plots_dir=plots_dir
    )
    result = run.result
    for warning in result.warnings:
        echo_text(f"warning: {warning}", err=True)  # they name query and chunk ids: any text
    if as_json:
        echo_json(result.metrics())
        return
    click.echo(
        f"{result.evaluated} queries scored over {result.chunks} chunks; not scored: {result.excluded_refusal} "
        f"expecting a refusal, {result.excluded_no_relevant} other(s) without a relevant chunk"
    )
    click.echo(result.summary_table())
    click.echo("wrote " + ", ".join(str(p) for p in run.written.values()))


@eval_group.command("compare")
@click.argument("a", type=InputFile())
@click.argument("b", type=InputFile())
@click.option(
    "-m", "--metric", "metrics", multiple=True, help="Metric to compare (repeatable). Default: all in both files."
)
@click.option("--mode-a", help="Take only this mode from A and pair by query (with --mode-b).")
@click.option("--mode-b", help="Take only this mode from B and pair by query (with --mode-a).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(a: Path, b: Path, metrics: tuple[str, ...], mode_a: str | None, mode_b: str | None, as_json: bool) -> None:
    """Compare two per-query result files (from `eval retrieval`): B against A.

    Pairs records by (mode, query) and prints, per metric: both means, the delta (B - A), the queries
    B wins / ties / loses, and the two-sided p-value of a paired randomization test (10,000 random
    sign flips, seed 0). Use --mode-a/--mode-b to compare two modes, e.g. of the same file.
    """
    a, b = input_file("a", a), input_file("b", b)
    result = compare_per_query(a, b, metrics=list(metrics) or None, mode_a=mode_a, mode_b=mode_b)
    if as_json:
        echo_json(result.to_json())
        return
    echo_text(f"A = {a}\nB = {b}", lines=True)
    click.echo(f"{result.paired} paired queries ({result.only_a} only in A, {result.only_b} only in B)")
    echo_text(result.to_markdown(), lines=True)  # metric and mode names are the files' text


def register(cli: click.Group) -> None:
    cli.add_command(eval_group)
