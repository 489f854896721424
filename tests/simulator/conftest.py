"""The simulated CC&B fixture (see ccb.py)."""

from tests.simulator.ccb import ccb  # noqa: F401
