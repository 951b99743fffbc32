"""Native work that releases the GIL reads a copy of its numpy input taken
while the GIL is held: a Python thread writing the array meanwhile can
neither tear the input nor be torn (src/py/records.rs)."""
import sys
import threading

import numpy

from gnocchi_rs import _native
from gnocchi_rs import records

POINTS = 400_000
ATTEMPTS = 15


def _series():
    series = numpy.zeros(POINTS, dtype=records.SERIES_DTYPE)
    series["timestamps"] = numpy.arange(POINTS, dtype="int64") * 10**9
    return series


def _torn(serialize):
    """Serializes while a thread writes the last value, then the first, in
    steps of one: any snapshot taken with the GIL held has
    last - first in {0, 1}; a read spread over the writes can see more."""
    series = _series()
    values = series["values"]
    words = records.to_records(series)
    stop = threading.Event()

    def write():
        step = 0.0
        while not stop.is_set():
            step += 1.0
            values[-1] = step
            values[0] = step

    writer = threading.Thread(target=write)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    writer.start()
    try:
        for _ in range(ATTEMPTS):
            seen = records.to_series(_native.unserialize_bound(serialize(words)))
            first, last = seen["values"][0], seen["values"][-1]
            if not 0.0 <= last - first <= 1.0:
                return first, last
    finally:
        stop.set()
        writer.join()
        sys.setswitchinterval(previous)
    return None


def test_a_concurrent_writer_cannot_tear_a_detached_read():
    assert _torn(_native.serialize_bound) is None


def test_unaligned_or_strided_records_are_refused_not_read():
    """An int64 view at an odd offset into a buffer, or every other word:
    a ValueError, never a read through a misaligned pointer."""
    buffer = bytearray(16 * 4 + 1)
    unaligned = numpy.frombuffer(buffer, dtype="<i8", offset=1)
    assert not unaligned.flags.aligned
    strided = numpy.zeros(16, dtype="<i8")[::2]
    for words in (unaligned, strided):
        for call in (_native.serialize_bound, _native.sort_measures):
            try:
                call(words)
            except ValueError as e:
                assert "contiguous" in str(e)
            else:
                raise AssertionError("%s read %r" % (call.__name__, words))
