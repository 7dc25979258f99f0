"""One redirected GET, as traces and metrics show it: which node, what it cost."""
import os
import time

from opencensus.stats import stats as stats_module
from opencensus.trace import base_exporter, samplers
from opencensus.trace import tracer as tracer_module

import redigo_py as redis
from redigo_py import cluster as redisc
from redigo_py import observability


class Collect(base_exporter.Exporter):
    def __init__(self):
        self.spans = []

    def export(self, span_datas):
        self.spans.extend(span_datas)

    def emit(self, span_datas):
        self.export(span_datas)


redis.register_views()

cluster = redisc.Cluster([os.environ.get("REDIS_CLUSTER_ADDR", "127.0.0.1:7000")])
cluster.refresh()
key = "session:9f2c"
with cluster.get() as conn:
    conn.bind(key)
    old = conn.bound_addr
masters = []
cluster.each_node(False, lambda addr, conn: masters.append(addr))
new = next(m for m in masters if m != old)

# Behind the client's back, an operator hands the key's (empty) slot to another master.
with redis.dial("tcp", new) as admin:
    new_id = redis.string(admin.do("CLUSTER", "MYID"))
for node in [new, old] + [m for m in masters if m not in (old, new)]:
    with redis.dial("tcp", node) as admin:
        admin.do("CLUSTER", "SETSLOT", redisc.slot(key), "NODE", new_id)

exporter = Collect()
tracer = tracer_module.Tracer(sampler=samplers.AlwaysOnSampler(), exporter=exporter)
with tracer.span(name="handle-request"):
    with redisc.retry_conn(cluster.get(), 3, 0.1) as conn:
        conn.do("GET", key)
# The MOVED also started a refresh of the whole map, in a background thread
# but in the same trace: wait (with a deadline) until its span is exported.
deadline = time.monotonic() + 10
while not any(s.name == "redis.Cluster.refresh" for s in exporter.spans):
    assert time.monotonic() < deadline, "no background refresh span"
    time.sleep(0.01)

where = {old: "old node", new: "new node"}


def subtree(spans, root):
    """The spans under ``root`` (included), found by parent ids."""
    ids, found = {root.span_id}, [root]
    for s in sorted(spans, key=lambda s: s.start_time):
        if s.parent_span_id in ids:
            ids.add(s.span_id)
            found.append(s)
    return found


def show(spans, label):
    for s in sorted(spans, key=lambda s: s.start_time):
        a = s.attributes
        line = s.name
        if "server.address" in a:
            line += f"  [{label(a['server.address'] + ':' + str(a['server.port']))}]"
        for note in s.annotations:
            attrs = note.attributes.attributes
            line += (f"  {note.description}: type={attrs['type']} slot={attrs['slot'] == redisc.slot(key)}"
                     f" address={label(attrs['address'])}")
        print(line)


background = subtree(exporter.spans, next(s for s in exporter.spans if s.name == "redis.Cluster.refresh"))
show([s for s in exporter.spans if s not in background], where.get)
print("-- in the background, same trace:")
show(background, lambda addr: f"a master: {addr in masters}")

# An explicit refresh is a span of its own, around CLUSTER SLOTS on the first master that answers.
exporter.spans.clear()
with tracer.span(name="reload-slot-map"):
    cluster.refresh()
show(exporter.spans, lambda addr: f"a master: {addr in masters}")

observability.flush()
errors = stats_module.stats.view_manager.get_view("redis/client/errors")
for tags, data in sorted(errors.tag_value_aggregation_data_map.items()):
    print("redis/client/errors", dict(zip(errors.view.columns, tags)), "count", data.count_data)
cluster.close()
