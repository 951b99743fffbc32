"""What ``gnocchi-rs metricd`` hands its lean processes, once for both
sides: ``gnocchi_rs.metricd`` builds these settings with upstream's
configuration and drivers and sends them as JSON (``to_wire``); the lean
process reads them back (``from_wire``) and rejects any key it does not
know, so that the two sides cannot drift apart unnoticed.
"""
from __future__ import annotations

import dataclasses
import logging

REPORTING_ROLE = "reporting"


@dataclasses.dataclass(frozen=True)
class Backend:
    """A native incoming or storage backend."""

    kind: str  # "file", "redis" or "ceph"
    # file
    basepath: str | None = None
    subdir_len: int | None = None  # storage
    # redis: the keywords of ``_native.RedisConnection``
    connection: dict | None = None
    prefix: str | None = None  # storage, latin-1
    # ceph: "pool" and the keywords of ``_native.RadosPool``
    ceph: dict | None = None
    sacks: int | None = None  # incoming


@dataclasses.dataclass(frozen=True)
class Logging:
    """Where the metricd master logs, at its levels."""

    level: int = logging.WARNING
    # Upstream logs its own modules one level up from the others.
    gnocchi_level: int = logging.INFO
    file: str | None = None
    # None: stderr when there is no file.
    stderr: bool | None = None
    syslog_facility: str | None = None
    journal: bool = False


@dataclasses.dataclass(frozen=True)
class Worker:
    """A lean processing worker."""

    coordination_url: str
    indexer_url: str
    metric_processing_delay: float
    incoming: Backend
    storage: Backend
    worker_id: int = 0
    # The metricd master, which the worker must not outlive.
    parent_pid: int | None = None
    # How the master read its configuration, for upstream's indexer in
    # the revival process.
    config_args: tuple = ()
    processing_replicas: int = 1
    greedy: bool = True
    logging: Logging = Logging()


@dataclasses.dataclass(frozen=True)
class Reporter:
    """The lean backlog report."""

    metric_reporting_delay: float
    incoming: Backend
    parent_pid: int | None = None
    logging: Logging = Logging()


_NESTED = {"incoming": Backend, "storage": Backend, "logging": Logging}


def to_wire(settings: Worker | Reporter) -> dict:
    wire = dataclasses.asdict(settings)
    if isinstance(settings, Reporter):
        wire["role"] = REPORTING_ROLE
    return wire


def from_wire(wire: dict | Worker | Reporter) -> Worker | Reporter:
    """Raises TypeError for a key the schema does not have, or a required
    one missing."""
    if isinstance(wire, (Worker, Reporter)):
        return wire
    wire = dict(wire)
    kind = Reporter if wire.pop("role", None) == REPORTING_ROLE else Worker
    for key, cls in _NESTED.items():
        if isinstance(wire.get(key), dict):
            wire[key] = cls(**wire[key])
    if "config_args" in wire:
        wire["config_args"] = tuple(wire["config_args"])
    return kind(**wire)
