"""resilience: a drop-in torchrun replacement with rendezvous-centralized failure attribution.

Invariants: nothing happens at import (no handlers, no logging config, no sockets); layers
import downwards only (cli/run -> agent, rendezvous, attribution, service -> policy, barrier,
rules -> config, errors, events).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
