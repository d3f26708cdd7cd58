"""Configuration: params.yaml sections (:mod:`.sections`) resolved into one frozen Settings (:mod:`.settings`)."""

from goldkeeper.config.sections import *  # noqa: F403 - the sections are this package's API
from goldkeeper.config.sections import __all__ as _sections
from goldkeeper.config.settings import (
    DATABASE_URL_ENV,
    DEFAULT_PARAMS_FILE,
    SECTIONS,
    Settings,
    load_params,
    load_settings,
    validate_settings,
)

__all__ = [
    *_sections,
    "DATABASE_URL_ENV",
    "DEFAULT_PARAMS_FILE",
    "SECTIONS",
    "Settings",
    "load_params",
    "load_settings",
    "validate_settings",
]
