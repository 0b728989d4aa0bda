"""Source simulator: writes what the five systems of record of a multi-site manufacturer
would drop into the landing zone (see ``docs/sources.md``), plus a ground-truth ledger of
the injected quality incidents and bad input.

Public API: :func:`simulate`. CLI wiring: :mod:`simulator.cli`.
"""

from .generate import simulate

__all__ = ["simulate"]
