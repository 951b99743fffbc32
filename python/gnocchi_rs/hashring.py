"""Sack ownership on the consistent hash ring of tooz's partitioner.

Upstream's metricd workers split the sacks between the members of a tooz
group with ``tooz.partitioner.Partitioner``. For ``gnocchi-rs metricd`` to
run next to them on the same data, it must give every sack to exactly the
members tooz would, so this ring places members and objects as tooz's
``HashRing`` does:

* a member of weight ``w`` gets ``partitions * w`` points; point ``r``
  (from 0) is the md5 of the member's name repeated ``r + 2`` times, read
  as a big-endian integer;
* an object (a sack: its name, as tooz hashes objects without
  ``__tooz_hash__``) belongs to the member of the first point strictly
  after the md5 of its name, wrapping around, and with ``replicas > 1`` to
  the next distinct members walking on from there.

The membership is read from the coordinator on every refresh instead of
being followed through tooz's join/leave watchers.
"""
from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Mapping

# What gnocchi's metricd passes to ``join_partitioned_group``.
GNOCCHI_PARTITIONS = 200


def as_bytes(name):
    """How tooz turns a member name into bytes (str: UTF-8)."""
    return name.encode("utf-8") if isinstance(name, str) else bytes(name)


def _md5_int(data):
    return int.from_bytes(hashlib.md5(data, usedforsecurity=False).digest(),
                          "big")


class HashRing:
    """Members (bytes or str) mapped to weights on an md5 ring."""

    def __init__(self, members: Mapping | Iterable,
                 partitions: int = GNOCCHI_PARTITIONS):
        if not isinstance(members, Mapping):
            members = {member: 1 for member in members}
        self.weights = dict(members)
        owner_at = {}
        for member, weight in self.weights.items():
            name = as_bytes(member)
            running = hashlib.md5(name, usedforsecurity=False)
            for _ in range(partitions * weight):
                running.update(name)
                owner_at[int.from_bytes(running.digest(), "big")] = member
        self._points = sorted(owner_at)
        self._owners = [owner_at[point] for point in self._points]
        # A member of weight 0 has no point: it can never be chosen, and
        # counting it would make the replica walk below go round forever
        # (as tooz's does).
        self._placed = set(self._owners)

    def members_for(self, data: bytes | str, replicas: int = 1,
                    ignore: Iterable = ()) -> set:
        """The members ``data`` belongs to: up to ``replicas`` of them."""
        ignore = set(ignore)
        wanted = min(replicas, len(self._placed - ignore))
        chosen: set = set()
        if not wanted:
            return chosen
        position = bisect.bisect_right(self._points, _md5_int(as_bytes(data)))
        count = len(self._points)
        while len(chosen) < wanted:
            owner = self._owners[position % count]
            if owner not in ignore:
                chosen.add(owner)
            position += 1
        return chosen

    def owned_by(self, member, objects: Iterable, replicas: int = 1) -> list:
        """The objects (sacks) among ``objects`` that ``member`` owns."""
        return [obj for obj in objects
                if member in self.members_for(str(obj), replicas)]


__all__ = ["GNOCCHI_PARTITIONS", "HashRing", "as_bytes"]
