"""Measure timestamps outside datetime64[ns]'s range: a 400, not a 202.

Upstream converts the timestamps of posted measures in
``gnocchi.rest.api.MeasuresListSchema`` (every route that takes measures:
/v1/metric/<id>/measures, both /v1/batch routes, Prometheus' remote
write) with ``gnocchi.utils.to_timestamps``, which casts them to
datetime64[ns] and checks only that none is before the Epoch. A timestamp
the cast cannot hold is accepted with a 202 and lost later:

* a number of seconds past 2262-04-11T23:47:16.854775807 (e.g. 1e20), or
  NaN/Infinity (``"NaN"`` is a valid number of seconds to ``float()``),
  becomes NaT; NaT passes the Epoch check (comparisons with it are false)
  and metricd drops the measures with "... is before Epoch";
* an ISO date past 2262 (or before 1678) wraps around silently: year 3000
  becomes 1830 (refused as "before Epoch", a misleading reason) but
  2846-07-21 becomes 2261-12-31, stored at the wrong time;
* a relative timestamp ("+300000 days") wraps the same way.

:func:`to_timestamps` runs upstream's conversion (its answers and errors
are unchanged) and then refuses any value that is NaT after the cast or
outside datetime64[ns]'s range before it (1677-09-21T00:12:43.145224193
to 2262-04-11T23:47:16.854775807), with a ValueError naming the first
such value; also when upstream refused the list as "Timestamp must be
after Epoch" (a wrapped date) or let an OverflowError through (a 500). A
timestamp in range but before the Epoch keeps upstream's answer. MeasuresListSchema turns it into
upstream's invalid-measures answer, a 400 with
``{"cause": "Invalid input", "reason": "unexpected timestamp '<message>'",
"detail": [<path>]}``.

:func:`install` puts it where MeasuresListSchema looks it up: the ``utils``
global of ``gnocchi.rest.api`` becomes a module that delegates every
attribute to ``gnocchi.utils`` except ``to_timestamps``. Only the REST API
sees the check (``to_timestamps`` is called there by MeasuresListSchema
alone); drivers, metricd and ``gnocchi.utils`` itself are untouched. The
batch schemas captured MeasuresListSchema at import time, which is why the
lookup it makes, not the function, is replaced. This is a deliberate
difference from upstream (see README.md, Compatibility notes).
"""
from __future__ import annotations

import datetime
import types
import warnings

import numpy

# datetime64[ns]'s range (NaT is int64's minimum), and the whole seconds
# and microseconds inside it (strings: numpy's astype of the earliest to a
# coarser unit wraps around).
EARLIEST = numpy.datetime64("1677-09-21T00:12:43.145224193", "ns")
LATEST = numpy.datetime64("2262-04-11T23:47:16.854775807", "ns")
_EARLIEST_S = numpy.datetime64("1677-09-21T00:12:44", "s")
_LATEST_S = numpy.datetime64("2262-04-11T23:47:16", "s")
_EARLIEST_US = numpy.datetime64("1677-09-21T00:12:43.145225", "us")
_LATEST_US = numpy.datetime64("2262-04-11T23:47:16.854775", "us")
_NS_LIMIT = 2.0 ** 63          # the first float that int64 cannot hold

RANGE_TEXT = "timestamps must be between 1970-01-01T00:00:00 and %s" % (
    numpy.datetime_as_string(LATEST))


def _out_of_range(values, times):
    """Boolean array: which of ``values`` (converted by upstream to
    ``times``, None if it refused them) are outside datetime64[ns]'s
    range. Follows upstream's choice of format, made on the first value."""
    from gnocchi import utils

    bad = (numpy.zeros(len(values), dtype=bool) if times is None
           else numpy.isnat(times))
    first = values[0]
    if isinstance(first, (numpy.datetime64, datetime.datetime)):
        return bad
    try:
        float(first)
    except ValueError:
        pass
    else:
        # Seconds since the Epoch, scaled as upstream scales them.
        nanoseconds = numpy.array(values, dtype="float") * 10e8
        inside = (nanoseconds < _NS_LIMIT) & (nanoseconds > -_NS_LIMIT)
        return bad | ~inside                        # NaN is out too
    try:
        numpy.datetime64(first)
    except ValueError:
        # Relative timestamps, from a "now" a few microseconds after
        # upstream's; microseconds hold +-290 000 years without wrapping.
        now = numpy.datetime64(utils.utcnow())
        coarse = numpy.add(now, [utils.to_timespan(v, True)
                                 for v in values]).astype("datetime64[us]")
        return bad | (coarse > _LATEST_US) | (coarse < _EARLIEST_US)
    # ISO dates: seconds hold any year numpy parses without wrapping.
    coarse = numpy.array(values, dtype="datetime64[s]")
    return bad | (coarse > _LATEST_S) | (coarse < _EARLIEST_S)


def to_timestamps(values):
    """``gnocchi.utils.to_timestamps``, refusing what datetime64[ns] does
    not hold (ValueError naming the first such value)."""
    from gnocchi import utils

    try:
        times = utils.to_timestamps(values)
    except OverflowError:
        # Relative timestamps too far for a timedelta: upstream lets the
        # OverflowError through (a 500).
        _raise_out_of_range(values, None)
        raise
    except ValueError as e:
        # A date past 2262 may wrap to before the Epoch: name it instead.
        if str(e) == "Timestamp must be after Epoch":
            _raise_out_of_range(values, None)
        raise
    if len(values) == 0:
        return times
    _raise_out_of_range(values, times)
    return times


def _raise_out_of_range(values, times):
    with warnings.catch_warnings():
        # As upstream: timezone-aware strings warn; invalid casts too.
        warnings.simplefilter("ignore")
        if times is None:
            bad = numpy.array([_single_out_of_range(v) for v in values])
        else:
            try:
                bad = _out_of_range(values, times)
            except (ValueError, TypeError, OverflowError):
                # A mix of formats upstream's cast took; NaT is still
                # caught.
                bad = numpy.isnat(times)
    if bad.any():
        value = values[int(numpy.argmax(bad))]
        shown = value if isinstance(value, str) else repr(value)
        raise ValueError("%s: out of range, %s" % (shown, RANGE_TEXT))


def _single_out_of_range(value):
    """For the error paths: whether one value alone is out of range (its
    format chosen as upstream would for a list starting with it)."""
    try:
        return bool(_out_of_range([value], None)[0])
    except (ValueError, TypeError, OverflowError):
        return isinstance(value, str) and _overflows_as_timespan(value)


def _overflows_as_timespan(value):
    from gnocchi import utils

    try:
        utils.to_timestamps([value])
    except OverflowError:
        return True
    except ValueError:
        pass
    return False


class _RestUtils(types.ModuleType):
    """``gnocchi.utils`` as seen by ``gnocchi.rest.api``: the same module,
    but with the range-checking :func:`to_timestamps`."""

    to_timestamps = staticmethod(to_timestamps)

    def __init__(self, utils):
        super().__init__(utils.__name__, utils.__doc__)
        self.__dict__["_gnocchi_utils"] = utils

    def __getattr__(self, name):
        return getattr(self.__dict__["_gnocchi_utils"], name)


def install():
    """Make upstream's REST API refuse out-of-range measure timestamps.
    Idempotent."""
    from gnocchi import utils
    from gnocchi.rest import api

    if not isinstance(api.utils, _RestUtils):
        api.utils = _RestUtils(utils)


def installed() -> bool:
    from gnocchi.rest import api

    return isinstance(api.utils, _RestUtils)
