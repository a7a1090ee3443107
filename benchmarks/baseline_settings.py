"""The app's settings with the benchmark's baseline URLconf (``benchmarks/baseline_urls.py``).

Only for ``gunicorn`` in ``benchmarks/ingest.py``: the same middleware, database (persistent
connections with health checks) and logging as the app, so the baseline views cost what a request
costs in this app before any view code runs.
"""

from cxm.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.baseline_urls"
