"""The simulated CC&B fixture (see tests/simulator/ccb.py)."""

from tests.simulator.ccb import ccb  # noqa: F401
