"""``goldkeeper demo``: the whole pipeline on a fresh embedded database (see :mod:`goldkeeper.demo.run`)."""

from goldkeeper.demo.context import DemoContext, DemoStep, StepResult
from goldkeeper.demo.run import DEMO_STEPS, MAPPED_STEPS, DemoReport, StepReport, demo_home, run_demo

__all__ = [
    "DEMO_STEPS",
    "MAPPED_STEPS",
    "DemoContext",
    "DemoReport",
    "DemoStep",
    "StepReport",
    "StepResult",
    "demo_home",
    "run_demo",
]
