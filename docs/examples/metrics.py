"""Metrics: register the fork's views, run commands, read the aggregated view data."""
import os

from opencensus.stats import stats as stats_module

import redigo_py as redis
from redigo_py import observability

# Go: view.Register(redis.ObservabilityMetricViews...)
redis.register_views()

c = redis.dial_url(os.environ.get("REDIS_URL", "redis://localhost:6379"))
c.do("SET", "k", "v")
c.do("GET", "k")
c.do("GET", "k")
try:
    c.do("INCR", "k")
except redis.Error:
    pass
c.close()

# Samples are folded into opencensus's view data every second by a background
# thread (and at exit); flush() does it now, as a test or a shutdown hook would.
observability.flush()

view_manager = stats_module.stats.view_manager
for name in ("redis/client/writes", "redis/client/roundtrip_latency", "redis/client/errors",
             "redis/client/connections_open", "redis/client/connections_closed"):
    view_data = view_manager.get_view(name)
    columns = view_data.view.columns
    for tag_values, data in sorted(view_data.tag_value_aggregation_data_map.items()):
        tags = ", ".join(f"{k}={v}" for k, v in zip(columns, tag_values))
        print(f"{name} {{{tags}}} count={data.count_data}")
