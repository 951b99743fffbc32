"""tooz's consistent hash ring, native: ``tooz.hashring.HashRing``'s
constructor, methods and answers, with the hashing and the walk in Rust
(``gnocchi_rs._native.HashRing``, ``src/schedule/ring.rs``).

Upstream's metricd workers split the sacks between the members of a tooz
group with ``tooz.partitioner.Partitioner`` over this ring (200
partitions per member of weight 1). For ``gnocchi-rs metricd`` to run next
to them on the same data, it must give every sack to exactly the members
tooz would; code and tests written for tooz's ring can use this one.

Where tooz would loop forever (more replicas asked than members with
points: a member of weight 0), this ring answers with the members it
found.
"""
from __future__ import annotations

from collections.abc import Iterable

from tooz.hashring import UnknownNode

from gnocchi_rs import _native

# What gnocchi's metricd passes to ``join_partitioned_group``.
GNOCCHI_PARTITIONS = 200


def as_bytes(name):
    """How tooz turns a member name into bytes: str as UTF-8."""
    if isinstance(name, str):
        return name.encode("utf-8")
    if isinstance(name, (bytes, bytearray, memoryview)):
        return bytes(name)
    raise TypeError("a hash ring key is str or bytes, not %s"
                    % type(name).__name__)


def object_key(obj):
    """How tooz's partitioner hashes an object: ``__tooz_hash__()`` when
    it has one, else its ``str()`` in UTF-8."""
    if hasattr(obj, "__tooz_hash__"):
        return as_bytes(obj.__tooz_hash__())
    return str(obj).encode("utf-8")


class HashRing:
    """Map objects onto nodes based on their consistent hash."""

    DEFAULT_PARTITION_NUMBER = 2 ** 5
    DEFAULT_HASH_FUNCTION = "md5"

    def __init__(self, nodes: Iterable = (),
                 partitions: int = DEFAULT_PARTITION_NUMBER,
                 hash_function: str = DEFAULT_HASH_FUNCTION):
        if hash_function != "md5":
            raise ValueError("Hash function %s is not supported by the "
                             "native ring, which hashes with md5 (tooz's "
                             "default)" % hash_function)
        self.nodes: dict = {}
        # Every node ever added keeps its id: points a removal leaves
        # behind (tooz's, after a weight was lowered) still name it.
        self._ids: dict = {}
        self._by_id: list = []
        self._ring = _native.HashRing(partitions)
        self.add_nodes(set(nodes))

    def _id(self, node):
        known = self._ids.get(node)
        if known is None:
            known = self._ids[node] = len(self._by_id)
            self._by_id.append(node)
        return known

    def add_node(self, node, weight: int = 1) -> None:
        """Add a node; a weight of ``w`` gives it ``w`` times the objects
        of a node of weight 1."""
        self.add_nodes((node,), weight)

    def add_nodes(self, nodes: Iterable, weight: int = 1) -> None:
        for node in nodes:
            self._ring.add(self._id(node), as_bytes(node), weight)
            self.nodes[node] = weight

    def remove_node(self, node) -> None:
        """Raises tooz's ``UnknownNode`` for a node not on the ring."""
        if node not in self.nodes:
            raise UnknownNode(node)
        self._ring.remove(self._ids[node])
        del self.nodes[node]

    def get_nodes(self, data, ignore_nodes: Iterable | None = None,
                  replicas: int = 1) -> set:
        """The set of nodes ``data`` (bytes) maps onto."""
        ignored = [self._ids[n] for n in set(ignore_nodes or ())
                   if n in self._ids]
        return {self._by_id[i] for i in self._ring.members_for(
            as_bytes(data), ignored, replicas)}

    def owned_by(self, node, objects: Iterable, replicas: int = 1) -> list:
        """The objects ``node`` owns among ``objects`` (hashed as tooz's
        partitioner hashes them), in one native call."""
        objects = list(objects)
        member = self._ids.get(node)
        if member is None:
            return []
        return [objects[i] for i in self._ring.owned_by(
            member, [object_key(o) for o in objects], replicas)]

    def __getitem__(self, key):
        return self.get_nodes(key)

    def __len__(self) -> int:
        return len(self._ring)


__all__ = ["GNOCCHI_PARTITIONS", "HashRing", "UnknownNode", "as_bytes",
           "object_key"]
