"""Benchmarks of the Batch Monitor: tick cost, API latency, page load, store size and purge.

Run them all with ``make bench`` (``python benchmarks/run_all.py``; ``--smoke`` for a tiny,
seconds-long run). Importing this package puts ``plugins/`` on ``sys.path`` so the scripts use
the real ``batch_monitor`` package from the working tree, exactly as the DAGs do.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT / "plugins", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
