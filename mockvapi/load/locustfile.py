"""A ready locustfile: every user plays the configured scenario mix against ``--host``.

    locust -f "$(python -c 'import mockvapi.load.locustfile as m; print(m.__file__)')" \\
        --headless --host http://127.0.0.1:9000/webhook -u 100 -r 10 -t 5m \\
        --mockvapi-scenarios scenarios/ --mockvapi-seed 7 --mockvapi-weights tool-call=3

or `mockvapi load SCENARIO_DIR --to URL ...`, which runs exactly this. Settings: see
`mockvapi.load.user` (options, environment variables, defaults).
"""

from __future__ import annotations

from mockvapi.load.user import VapiCallUser

__all__ = ["VapiCaller"]


class VapiCaller(VapiCallUser):
    """A phone line playing the configured scenarios (settings from options and environment)."""
