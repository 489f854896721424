"""A simulated CC&B: the OUAF batch tables and a player for scenario days (demo and tests).

    from batch_monitor import simulator
    simulator.create_schema(engine)                    # PostgreSQL or SQLite
    scenario = simulator.load_scenario("include/scenarios/failure.yaml")
    simulator.play(engine, scenario, workflow, business_date, as_of)

The command line (``python -m batch_monitor.simulator --help``) plays a scenario once or keeps
replaying it at wall-clock time for the demo.
"""

from batch_monitor.simulator.ddl import create_schema, drop_schema
from batch_monitor.simulator.player import PlayResult, play
from batch_monitor.simulator.scenario import Scenario, ScenarioError, load_scenario, parse_scenario, state_at

__all__ = [
    "PlayResult",
    "Scenario",
    "ScenarioError",
    "create_schema",
    "drop_schema",
    "load_scenario",
    "parse_scenario",
    "play",
    "state_at",
]
