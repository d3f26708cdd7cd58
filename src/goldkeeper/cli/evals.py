"""``goldkeeper eval``: measure retrieval and grounded-answer quality.

Other capabilities add their subcommands to :data:`eval_group` (e.g. ``eval grounded``).
"""

from __future__ import annotations

import click


@click.group("eval")
def eval_group() -> None:
    """Evaluate retrieval (vector, full text, hybrid RRF) and answers against the golden dataset."""


def register(cli: click.Group) -> None:
    cli.add_command(eval_group)
