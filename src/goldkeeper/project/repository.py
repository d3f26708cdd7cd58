"""``goldkeeper init``: set up a git repository, with a Project to dump the store when asked.

Kept apart from the package's ``__init__`` (which holds the Project) so that module stays under the
size limit; the CLI imports :func:`init_repository` from here.
"""

from __future__ import annotations

from pathlib import Path

from goldkeeper.progress import SILENT, Progress
from goldkeeper.project import Project
from goldkeeper.scaffold.init import InitResult, init_project


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

    With ``from_database`` the store is dumped from the database, with the settings of the
    params.yaml init has just written.
    """

    def dump_store(project_root: Path) -> object:
        project = Project.load(project_root, params_file=params_file, database_url=database_url, progress=progress)
        return project.dump()

    return init_project(
        root,
        force=force,
        from_database=from_database,
        dvc_tracked_store=dvc_tracked_store,
        install=install,
        dump_store=dump_store,
        grounded_only_project=grounded_only,
    )


__all__ = ["init_repository"]
