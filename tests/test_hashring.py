"""Our hash ring gives every sack the owners tooz gives it: tooz's
``HashRing`` directly, and tooz's ``Partitioner`` as gnocchi's metricd
uses it (a group joined with 200 partitions, ``belongs_to_self`` with
``processing_replicas``)."""
from __future__ import annotations

import uuid

import pytest
from gnocchi import incoming
from hypothesis import given, settings, strategies as st
from tooz import hashring as tooz_hashring
from tooz import partitioner as tooz_partitioner

from gnocchi_rs import hashring

COMPARED = {"cases": 0}

member_names = st.one_of(
    st.binary(min_size=1, max_size=40),
    st.text(min_size=1, max_size=20),
    # What gnocchi's metricd members look like.
    st.builds(lambda host, worker: ("%s.%d.%s" % (host, worker, uuid.UUID(
        int=worker * 7919))).encode(),
        st.text("abcdefghijklmnop-.", min_size=1, max_size=12),
        st.integers(0, 64)),
)


def _sacks(total):
    return [incoming.Sack(i, total, "incoming%d-%d" % (total, i))
            for i in range(total)]


def _tooz_ring(members, partitions):
    ring = tooz_hashring.HashRing([], partitions=partitions)
    for member, weight in members.items():
        ring.add_node(member, weight)
    return ring


@settings(max_examples=150, deadline=None)
@given(members=st.dictionaries(
           st.one_of(st.binary(min_size=1, max_size=40),
                     st.text(min_size=1, max_size=20)),
           st.integers(1, 3), min_size=1, max_size=6),
       partitions=st.integers(1, 40),
       total=st.integers(1, 300),
       replicas=st.integers(1, 6),
       ignored=st.integers(0, 2))
def test_same_members_as_tooz_hashring(members, partitions, total, replicas,
                                       ignored):
    # bytes and str names hash alike; keep one of each pair so that both
    # rings hold the same number of distinct nodes.
    seen, distinct = set(), {}
    for member, weight in members.items():
        key = member.encode() if isinstance(member, str) else member
        if key not in seen:
            seen.add(key)
            distinct[member] = weight
    theirs = _tooz_ring(distinct, partitions)
    ours = hashring.HashRing(distinct, partitions)
    ignore = list(distinct)[:ignored]
    for sack in _sacks(total):
        name = str(sack).encode()
        assert (ours.members_for(name, replicas, ignore)
                == theirs.get_nodes(name, ignore, replicas))
        COMPARED["cases"] += 1


class _Members:
    """The ``get_members``/``get_member_capabilities`` futures' shape."""

    def __init__(self, value):
        self.value = value

    def get(self):
        return self.value


class _Coordinator:
    """What ``Partitioner`` asks of a tooz coordinator."""

    def __init__(self, member_id, capabilities):
        self._member_id = member_id
        self.capabilities = capabilities

    def get_members(self, group_id):
        return _Members(list(self.capabilities))

    def get_member_capabilities(self, group_id, member_id):
        return _Members(self.capabilities[member_id])

    def watch_join_group(self, group_id, callback):
        pass

    def watch_leave_group(self, group_id, callback):
        pass


@settings(max_examples=60, deadline=None)
@given(names=st.lists(member_names, min_size=1, max_size=5, unique=True),
       weights=st.lists(st.one_of(st.none(), st.integers(1, 3)),
                        min_size=5, max_size=5),
       total=st.sampled_from([1, 2, 7, 16, 128, 333]),
       replicas=st.integers(1, 4))
def test_same_sacks_as_gnocchi_metricd_partitioner(names, weights, total,
                                                   replicas):
    names = list({(n.encode() if isinstance(n, str) else n): None
                  for n in names})
    # Capabilities as members publish them: the join's {"weight": w}, or
    # gnocchi's statistics once metricd has run (no weight: 1).
    capabilities = {
        name: ({"weight": weight} if weight else {"processed measures": 3})
        for name, weight in zip(names, weights)}
    ours = hashring.HashRing(
        {name: capabilities[name].get("weight", 1) for name in names})
    sacks = _sacks(total)
    for member in names:
        partitioner = tooz_partitioner.Partitioner(
            _Coordinator(member, capabilities), b"gnocchi-processing",
            partitions=hashring.GNOCCHI_PARTITIONS)
        expected = [sack for sack in sacks
                    if partitioner.belongs_to_self(sack, replicas=replicas)]
        assert ours.owned_by(member, sacks, replicas) == expected
        COMPARED["cases"] += len(sacks)


def test_every_sack_has_exactly_replicas_owners():
    members = [("host.%d.%s" % (i, uuid.UUID(int=i))).encode()
               for i in range(5)]
    ring = hashring.HashRing(members)
    sacks = _sacks(128)
    for replicas in (1, 3, 9):
        owners = [0] * len(sacks)
        for member in members:
            for sack in ring.owned_by(member, sacks, replicas):
                owners[sack.number] += 1
        assert owners == [min(replicas, len(members))] * len(sacks)
    # Spread: with 200 points each, nobody gets none or nearly all.
    shares = [len(ring.owned_by(m, sacks)) for m in members]
    assert min(shares) > 5 and max(shares) < 60


def test_weightless_member_is_never_chosen_and_does_not_hang():
    ring = hashring.HashRing({b"a": 1, b"b": 0}, partitions=4)
    assert ring.members_for(b"incoming8-1", replicas=2) == {b"a"}


def test_empty_ring_owns_nothing():
    assert hashring.HashRing({}).members_for(b"x") == set()


@pytest.fixture(scope="module", autouse=True)
def report_cases():
    yield
    print("\nhash ring cases compared with tooz: %d" % COMPARED["cases"])
