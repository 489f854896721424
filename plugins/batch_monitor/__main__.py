"""``python -m batch_monitor``: the command line for DAG authors and operators (see :mod:`batch_monitor.cli`)."""

import sys

from batch_monitor.cli import main

if __name__ == "__main__":
    sys.exit(main())
