"""Which dataset version an eval measured: the one the database records (``golden.dataset_state``, written
by restore), not the working tree's store, which may be another (``restore --rev v1.0`` then ``eval``).

The evals write the result as labels into their metrics (strings, which baselines' metric loading skips):
``dataset_version`` (what was measured), ``dataset_version_source`` (``database``, or ``store`` when the
database records nothing: restored before goldkeeper recorded it), and ``store_version`` (the working
tree's). When the two differ the eval says so: a warning naming both, and ``dataset_version_differs``.
Baselines and the gate take their identity's dataset version from these labels
(:func:`goldkeeper.quality.baseline.resolve_identity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from goldkeeper.db.state import DatasetState


@dataclass(frozen=True)
class MeasuredVersion:
    """The database's recorded state (None: nothing recorded) and the working tree's store version."""

    database: DatasetState | None
    store_version: str | None

    @property
    def version(self) -> str | None:
        """The version measured: the database's when it records one, else the store's."""
        return self.database.version if self.database is not None else self.store_version

    @property
    def differs(self) -> bool:
        return self.database is not None and self.store_version is not None and self.version != self.store_version

    def labels(self) -> dict[str, Any]:
        return {
            "dataset_version": self.version,
            "dataset_version_source": "database" if self.database is not None else "store",
            "store_version": self.store_version,
            "dataset_version_differs": self.differs,
        }

    def warnings(self) -> list[str]:
        if not self.differs or self.database is None:
            return []
        return [
            f"the database holds {self.database.held()} (restored at {self.database.to_json()['restored_at']}), the working "
            f"tree's store is version {self.store_version}: the metrics are labelled with the database's"
        ]


__all__ = ["MeasuredVersion"]
