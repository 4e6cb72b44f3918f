"""The scheduled canary with `serve --workers 2`: each account about once per interval, not once per worker.

Each worker runs the schedule, but a check takes the account's lease and skips an account checked
less than a gap ago (canary.py), so two workers on one store check an account about as often as
one server does. Counted on the simulator's log of ``users/current`` (the canary's first call).
"""

from __future__ import annotations

import math
import time
from collections import Counter

from .conftest import Store, serve, server_env, simulator, upstream

INTERVAL_S = 3.0
WINDOW_S = 12.0


def test_two_workers_check_each_account_about_once_per_interval(store: Store) -> None:
    with simulator(accounts=2) as sim:
        env = server_env(sim, store, accounts=2, **{"upstream.canary_interval_s": str(INTERVAL_S)})
        with serve(env, "--workers", "2"):
            began = time.time()
            time.sleep(WINDOW_S)
            ended = time.time()
            calls = [c for c in upstream(sim, "/users/current") if began <= float(c["time"]) <= ended]
    per_account = Counter(c["account"] for c in calls)
    # One server checks each account once per interval: 4 in 12 s (one more at an edge of the
    # window). Two workers each on their own schedule would make about 8.
    most = math.ceil(WINDOW_S / INTERVAL_S) + 1
    assert set(per_account) == {"alpha", "beta"}, per_account
    assert max(per_account.values()) <= most, (per_account, sorted((c["time"], c["account"]) for c in calls))
    assert min(per_account.values()) >= 2, per_account  # and the schedule does run in the workers
