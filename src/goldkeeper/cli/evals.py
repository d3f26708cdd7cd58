"""``goldkeeper eval``: measure retrieval and grounded-answer quality.

Other capabilities add their subcommands to :data:`eval_group` (e.g. ``eval grounded``).
"""

from __future__ import annotations

from pathlib import Path

import click

from .output import echo_json


@click.group("eval")
def eval_group() -> None:
    """Evaluate retrieval (vector, full text, hybrid RRF) and answers against the golden dataset."""


@eval_group.command("trec")
@click.argument("qrels", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("run", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-q", "per_query", is_flag=True, help="Also print every measure per query (then the `all` summary).")
@click.option(
    "-m",
    "measures",
    multiple=True,
    metavar="MEASURE",
    help="trec_eval measure: `official` (default), `all_trec`, a name (`ndcg_cut`) or name with "
    "cutoffs (`P.5,10`). Repeatable.",
)
@click.option("-c", "complete", is_flag=True, help="Also evaluate judged queries the run has no results for (as 0).")
@click.option("--json", "as_json", is_flag=True, help="Print {summary, per_query, num_q} as JSON instead.")
def trec(qrels: Path, run: Path, per_query: bool, measures: tuple[str, ...], complete: bool, as_json: bool) -> None:
    """Evaluate a TREC run file against a qrels file, printing trec_eval's own output format.

    QRELS lines are `qid iter docno rel`; RUN lines are `qid Q0 docno rank score runid`. Documents are
    ranked by score descending, ties by docno descending (the rank column is ignored), exactly as
    trec_eval 10 does; values match it to all printed decimals.
    """
    from ..evals.trec import evaluate_files, format_report

    report = evaluate_files(qrels, run, measures or None, complete=complete)
    if as_json:
        echo_json(report.to_json())
    else:
        click.echo(format_report(report, per_query=per_query), nl=False)


def register(cli: click.Group) -> None:
    cli.add_command(eval_group)
