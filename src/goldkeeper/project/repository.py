"""``goldkeeper init``: set up a git repository, with a Project to dump the store when asked.

Kept apart from the package's ``__init__`` (which holds the Project) so that module stays under the
size limit; the CLI imports :func:`init_repository` from here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from goldkeeper.config import load_settings
from goldkeeper.progress import SILENT, Progress
from goldkeeper.project import Project
from goldkeeper.scaffold.init import InitResult, check_can_init, init_project

if TYPE_CHECKING:
    from goldkeeper.db.mapping_infer import InferredMapping


def init_repository(
    root: Path,
    *,
    force: bool = False,
    from_database: bool = False,
    dvc_tracked_store: bool = False,
    install: str | None = None,
    database_url: str | None = None,
    params_file: Path | None = None,
    progress: Progress = SILENT,
    grounded_only: bool = False,
) -> InitResult:
    """``init``: the pipeline, params, policy, store and workflows in the git repository at ``root``.

    With ``from_database`` params ``database:`` is inferred from the database's schema (nothing when it
    holds goldkeeper's own ``golden`` schema only), checked (``db check``), and the store dumped from the
    database with the settings of the params.yaml init has just written.
    """
    inferred = None
    if from_database:
        check_can_init(root, force=force, from_database=True)
        inferred = infer_database(root, database_url)

    def load(project_root: Path) -> Project:
        return Project.load(project_root, params_file=params_file, database_url=database_url, progress=progress)

    def dump_store(project_root: Path) -> object:
        # `init --force --from-database` replaces golden/ with the database's records: what the dump guard
        # refuses (writing the restored version back over a store changed since) is what was asked for
        return load(project_root).dump(guard=False)

    def check_database(project_root: Path) -> tuple[str, ...]:
        return load(project_root).check_database().problems

    return init_project(
        root,
        force=force,
        from_database=from_database,
        dvc_tracked_store=dvc_tracked_store,
        install=install,
        dump_store=dump_store,
        grounded_only_project=grounded_only,
        inferred=inferred,
        check_database=check_database,
    )


def infer_database(root: Path, database_url: str | None = None) -> InferredMapping:
    """params ``database:`` inferred from the schema of the database (``database_url``, the environment's,
    else the embedded server of ``root``); reads the catalogue only."""
    from goldkeeper.db.catalogue import read_catalogue  # noqa: PLC0415 - start-up (package doc)
    from goldkeeper.db.mapping_infer import infer_mapping  # noqa: PLC0415 - start-up (package doc)

    # params.yaml is about to be (re)written: none of its values may decide which database is read
    settings = load_settings(root=Path(root).resolve(), params_file=Path(os.devnull), database_url=database_url)
    with Project(settings).database() as url:
        return infer_mapping(read_catalogue(url))


__all__ = ["infer_database", "init_repository"]
