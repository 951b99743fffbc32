"""``gnocchi-rs metricd``'s lean processing worker.

A processing worker only needs a sack's lock, the sack's measures, the
archive policies of its metrics and three indexer statements; upstream's
stack (its SQLAlchemy indexer, numpy, its drivers) is half of a worker's
memory and none of that work. ``gnocchi-rs metricd`` therefore resolves
its configuration and drivers with upstream's code in the forked worker,
then replaces that process (``exec``) with ``python -m
gnocchi_rs.sack_worker``, which loads only tooz, the database client and
the native core:

* the measures of a sack stay native from the read to the write
  (``read_sack_held`` / ``process_held``), and are deleted only once
  their aggregates are stored and the indexer updated (at-least-once);
* the indexer is PostgreSQL through psycopg2, MySQL/MariaDB through
  PyMySQL, or the embedded default's SQLite file through the standard
  library: one lookup per sack and
  one transaction for the updates that follow processing, with the
  effects of upstream's ``update_last_measure_timestamp``,
  ``update_needs_raw_data_truncation`` and resource revival; reviving a
  resource keeps its history, so it goes through upstream's indexer in a
  short-lived process (a rare event: a resource that ended gets measures);
* sack locks, the processing group and the hash ring are upstream's
  (``gnocchi_rs.sacks``), so it shares the sacks with upstream's workers.

Other setups (another database driver, a storage or incoming driver that
is not ``rs-*``) keep the in-process worker of ``gnocchi_rs.metricd``.

``settings`` (what metricd sends), ``index`` (PostgreSQL),
``sqlite_index`` (SQLite), ``mysql_index`` (MySQL), ``backends``
(the native drivers), ``revive``, ``worker``, ``reporter`` (the backlog
report), ``logs``, and ``__main__`` (the process: signals, the master).
"""
from gnocchi_rs.sacks import Sack
from gnocchi_rs.sack_worker.backends import open_incoming, open_storage
from gnocchi_rs.sack_worker.index import (LeanMetric, PostgresIndex,
                                          libpq_url, open_index, policy_spec)
from gnocchi_rs.sack_worker.reporter import LeanReporter
from gnocchi_rs.sack_worker.revive import revive_resources
from gnocchi_rs.sack_worker.worker import (LeanSackProcessor, LeanWorker,
                                           SackAlreadyLocked)

__all__ = ["LeanMetric", "LeanReporter", "LeanSackProcessor", "LeanWorker",
           "PostgresIndex", "Sack", "SackAlreadyLocked", "libpq_url", "open_index",
           "open_incoming", "open_storage", "policy_spec",
           "revive_resources"]
