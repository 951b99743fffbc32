"""`gnocchi-rs check` on the file backend (rs-file, upstream's file):
metric directories walked and read natively, objects moved into
``quarantine/`` beside them."""
from __future__ import annotations

import os
import tempfile

from gnocchi_rs import _native
from gnocchi_rs.check.stores import QUARANTINE
from gnocchi_rs.check.stores import SACK_NAME


class FileStore:
    """rs-file (and upstream's file) storage and incoming."""

    def __init__(self, basepath):
        self.basepath = os.path.abspath(basepath)
        self.quarantine_path = os.path.join(self.basepath, QUARANTINE)

    def describe(self):
        return "file storage in %s" % self.basepath

    def metric_locations(self):
        """{metric id: directory} of every metric directory in storage."""
        return dict(_native.file_metric_dirs(self.basepath))

    def contents(self, locations):
        """{metric id: [(method or None, name, bytes)]}, read natively in
        parallel."""
        metrics = list(locations)
        read = _native.file_metric_contents([locations[m] for m in metrics])
        return dict(zip(metrics, read))

    def _path(self, locations, metric, method, name):
        directory = locations[metric]
        return os.path.join(directory, "agg_" + method, name) if method \
            else os.path.join(directory, name)

    def quarantine(self, locations, metric, method, name):
        """Moves an object into ``quarantine/`` beside the metrics, keeping
        its path below the base; returns where it went."""
        source = self._path(locations, metric, method, name)
        target = os.path.join(self.quarantine_path,
                              os.path.relpath(source, self.basepath))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(source, target)
        return target

    def quarantine_metric(self, locations, metric):
        source = locations[metric]
        target = os.path.join(self.quarantine_path,
                              os.path.relpath(source, self.basepath))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(source, target)
        return target

    @staticmethod
    def split_object(method, key, granularity):
        """(method directory, name) of a split named as upstream names
        it."""
        return method, "%s_%s_v3" % (key, granularity)

    def write(self, locations, metric, method, name, data):
        path = self._path(locations, metric, method, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp_dir = os.path.join(self.basepath, "tmp")
        os.makedirs(tmp_dir, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=tmp_dir, delete=False) as f:
            f.write(data)
        os.rename(f.name, path)

class FileIncoming:
    """rs-file (and upstream's file) incoming: a directory per sack and
    metric, a file per batch."""

    def __init__(self, basepath):
        self.incoming_basepath = os.path.abspath(basepath)

    def incoming_blobs(self):
        """[(sack, metric id, name, blob)] of every pending measure blob."""
        out = []
        for sack in _entries(self.incoming_basepath):
            if not SACK_NAME.match(sack):
                continue
            sack_path = os.path.join(self.incoming_basepath, sack)
            for metric in _entries(sack_path):
                metric_path = os.path.join(sack_path, metric)
                for name in _entries(metric_path):
                    try:
                        with open(os.path.join(metric_path, name), "rb") as f:
                            out.append((sack, metric, name, f.read()))
                    except (FileNotFoundError, IsADirectoryError):
                        pass  # processed meanwhile
        return out

    def quarantine_incoming(self, sack, metric, name):
        source = os.path.join(self.incoming_basepath, sack, metric, name)
        target = os.path.join(self.incoming_basepath, QUARANTINE, sack,
                              metric, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(source, target)
        return target



def _entries(path):
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []
