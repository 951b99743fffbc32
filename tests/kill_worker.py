"""Worker of test_kill: writes and processes the test workload batch by
batch, remembering progress in marker files, so that it can be killed
with SIGKILL at any instant and started again."""
import os
import sys

import driver_harness as h

# kind is "file" (store = a directory) or "ceph" (store = conffile:pool).
kind, store, markers = sys.argv[1], sys.argv[2], sys.argv[3]
metrics = h.make_metrics(6, seed=3)
batches = h.workload(metrics, 8, seed=5)
conf = h.conf_for(kind, store)
storage_cls, incoming_cls = h.DRIVERS[(kind, "rs")]
storage, incoming = storage_cls(conf), incoming_cls(conf)
storage.upgrade()
incoming.upgrade(4)
print("ready", flush=True)
for i, batch in enumerate(batches):
    done = os.path.join(markers, "done-%d" % i)
    if os.path.exists(done):
        continue
    added = os.path.join(markers, "added-%d" % i)
    if not os.path.exists(added):
        incoming.add_measures_batch(batch)
        open(added, "w").close()
    h.process_all(incoming, storage, metrics)
    open(done, "w").close()
