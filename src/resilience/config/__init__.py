"""Configuration: torchrun's flags plus ``--ft-*``, resolved once into frozen models.

Invariant: only :func:`resolve` looks at the environment mapping it is given; everything below
receives the frozen :class:`LaunchConfig`.
"""

from resilience.config.models import FaultToleranceConfig, LaunchConfig, RdzvConfig, WorkerConfig
from resilience.config.parser import build_parser
from resilience.config.resolve import resolve

__all__ = [
    "FaultToleranceConfig",
    "LaunchConfig",
    "RdzvConfig",
    "WorkerConfig",
    "build_parser",
    "resolve",
]
