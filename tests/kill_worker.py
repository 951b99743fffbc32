"""Worker of test_kill: writes and processes the test workload batch by
batch, remembering progress in marker files, so that it can be killed
with SIGKILL at any instant and started again."""
import os
import sys

import driver_harness as h

# kind is "file" (store = a directory) or "ceph" (store = conffile:pool),
# processed in this process as the in-process metricd worker does; or
# "lean": a directory processed by gnocchi-rs metricd's lean worker
# (gnocchi_rs.sack_worker, settings in $LEAN_SETTINGS).
kind, store, markers = sys.argv[1], sys.argv[2], sys.argv[3]
lean = kind == "lean"
kind = "file" if lean else kind
metrics = h.make_metrics(6, seed=3)
batches = h.workload(metrics, 8, seed=5)
conf = h.conf_for(kind, store)
storage_cls, incoming_cls = h.DRIVERS[(kind, "rs")]
storage, incoming = storage_cls(conf), incoming_cls(conf)
storage.upgrade()
incoming.upgrade(4)
if lean:
    import json
    from gnocchi_rs import sack_worker
    worker = sack_worker.LeanWorker(json.loads(os.environ["LEAN_SETTINGS"]))
    worker.configure()

    def process_all():
        for sack in worker.sacks:
            worker.processor.process(sack, blocking=True)
else:
    def process_all():
        h.process_all(incoming, storage, metrics)
print("ready", flush=True)
for i, batch in enumerate(batches):
    done = os.path.join(markers, "done-%d" % i)
    if os.path.exists(done):
        continue
    added = os.path.join(markers, "added-%d" % i)
    if not os.path.exists(added):
        incoming.add_measures_batch(batch)
        open(added, "w").close()
    process_all()
    open(done, "w").close()
