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


def _aliases_apart(members):
    """bytes and str names hash alike: one of each pair, so that both rings
    hold the same distinct nodes."""
    seen, distinct = set(), {}
    for member, weight in members.items():
        key = member.encode() if isinstance(member, str) else member
        if key not in seen:
            seen.add(key)
            distinct[member] = weight
    return distinct


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
    distinct = _aliases_apart(members)
    theirs = _tooz_ring(distinct, partitions)
    ours = hashring.HashRing([], partitions)
    for member, weight in distinct.items():
        ours.add_node(member, weight)
    ignore = list(distinct)[:ignored]
    for sack in _sacks(total):
        name = str(sack).encode()
        assert (ours.get_nodes(name, ignore, replicas)
                == theirs.get_nodes(name, ignore, replicas))
        COMPARED["cases"] += 1
    assert len(ours) == len(theirs)
    assert ours.nodes == theirs.nodes


operations = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, 5), st.integers(1, 4)),
    st.tuples(st.just("add_many"), st.lists(st.integers(0, 5), max_size=3),
              st.integers(1, 2)),
    st.tuples(st.just("remove"), st.integers(0, 6), st.just(None))),
    min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(ops=operations,
       names=st.lists(member_names, min_size=7, max_size=7, unique=True),
       partitions=st.integers(1, 24),
       keys=st.lists(st.binary(max_size=30), min_size=1, max_size=40),
       replicas=st.integers(0, 5),
       ignored=st.integers(0, 3))
def test_same_answers_as_tooz_after_any_sequence_of_changes(
        ops, names, partitions, keys, replicas, ignored):
    names = list(_aliases_apart({n: 1 for n in names}))
    theirs = tooz_hashring.HashRing(names[:2], partitions=partitions)
    ours = hashring.HashRing(names[:2], partitions=partitions)
    for op, which, weight in ops:
        if op == "add":
            theirs.add_node(names[which % len(names)], weight)
            ours.add_node(names[which % len(names)], weight)
        elif op == "add_many":
            chosen = [names[i % len(names)] for i in which]
            theirs.add_nodes(chosen, weight)
            ours.add_nodes(chosen, weight)
        else:
            node = names[which % len(names)]
            with pytest.raises(tooz_hashring.UnknownNode) if \
                    node not in theirs.nodes else _nothing():
                theirs.remove_node(node)
            with pytest.raises(tooz_hashring.UnknownNode) if \
                    node not in ours.nodes else _nothing():
                ours.remove_node(node)
    assert ours.nodes == theirs.nodes
    assert len(ours) == len(theirs)
    if not theirs.nodes or not len(theirs):
        return
    ignore = names[:ignored]
    for key in keys:
        assert ours.get_nodes(key, ignore, replicas) == \
            theirs.get_nodes(key, ignore, replicas)
        assert ours[key] == theirs[key]
        COMPARED["cases"] += 1


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


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
    ours = hashring.HashRing([], partitions=hashring.GNOCCHI_PARTITIONS)
    for name in names:
        ours.add_node(name, capabilities[name].get("weight", 1))
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
    ring = hashring.HashRing(members, partitions=hashring.GNOCCHI_PARTITIONS)
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
    ring = hashring.HashRing([b"a"], partitions=4)
    ring.add_node(b"b", 0)
    # tooz's own ring walks forever here.
    assert ring.get_nodes(b"incoming8-1", replicas=2) == {b"a"}


def test_empty_ring_owns_nothing():
    assert hashring.HashRing([]).get_nodes(b"x") == set()
    assert hashring.HashRing([]).owned_by(b"a", _sacks(4)) == []


def test_tooz_defaults_and_refusals():
    ring = hashring.HashRing(["a", "b"])
    assert len(ring) == 2 * tooz_hashring.HashRing.DEFAULT_PARTITION_NUMBER
    assert ring.get_nodes(b"x") == tooz_hashring.HashRing(
        ["a", "b"]).get_nodes(b"x")
    with pytest.raises(tooz_hashring.UnknownNode):
        ring.remove_node("c")
    with pytest.raises(ValueError):
        hashring.HashRing([], hash_function="sha256")
    with pytest.raises(TypeError):
        ring.add_node(12)
    with pytest.raises(TypeError):
        ring.add_node("c", 1.5)
    # More points than any deployment needs are refused, not hung on.
    with pytest.raises(ValueError):
        ring.add_node("c", 10 ** 9)
    assert "c" not in ring.nodes


def test_hashing_is_native():
    """No md5 left in Python: the ring's module does not import hashlib."""
    import inspect
    source = inspect.getsource(hashring)
    assert "hashlib" not in source and "bisect" not in source


@pytest.fixture(scope="module", autouse=True)
def report_cases():
    yield
    print("\nhash ring cases compared with tooz: %d" % COMPARED["cases"])
