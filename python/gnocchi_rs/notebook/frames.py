"""Series (columns of timestamps, granularities and values, as the native
answer reader gives them) laid out as tables: wide (a column per series,
rows by granularity and time) or long (a row per point), as a pandas
DataFrame, a pyarrow Table or numpy arrays. Alignment is numpy's; pandas
and pyarrow are imported only when asked for."""
from __future__ import annotations

import numpy

OUTPUTS = ("pandas", "arrow", "numpy")
SHAPES = ("wide", "long")

_EMPTY = (numpy.empty(0, numpy.int64), numpy.empty(0, numpy.float64),
          numpy.empty(0, numpy.float64))


def columns_of(node):
    """A measures leaf of an answer: the reader's three arrays, or an
    empty list for no point."""
    if isinstance(node, tuple):
        return node
    if node == []:
        return _EMPTY
    raise ValueError("not a list of measures: %r" % (node,))


class Table:
    """Labelled series: ``labels[i]`` is a tuple (one item per level of
    ``level_names``) naming ``series[i]``, a (timestamps ns, granularities
    s, values) triple."""

    def __init__(self, level_names, labels, series, units=None):
        self.level_names = tuple(level_names)
        self.labels = [tuple(label) for label in labels]
        self.series = [columns_of(s) for s in series]
        self.units = dict(units or {})

    def granularities(self):
        found = set()
        for _, granularities, _ in self.series:
            found.update(numpy.unique(granularities).tolist())
        return sorted(found, reverse=True)

    def aligned(self):
        """(granularities, timestamps, [values per series]): every
        (granularity, timestamp) any series has, coarsest granularity
        first then in time order, as the API lists them; NaN where a series
        has no point."""
        blocks = []
        for granularity in self.granularities():
            masks = [g == granularity for _, g, _ in self.series]
            union = numpy.unique(numpy.concatenate(
                [t[m] for (t, _, _), m in zip(self.series, masks)]))
            blocks.append((granularity, union, masks))
        rows = sum(len(union) for _, union, _ in blocks)
        grans = numpy.empty(rows, numpy.float64)
        times = numpy.empty(rows, numpy.int64)
        columns = [numpy.full(rows, numpy.nan) for _ in self.series]
        offset = 0
        for granularity, union, masks in blocks:
            block = slice(offset, offset + len(union))
            grans[block] = granularity
            times[block] = union
            for column, (t, _, v), mask in zip(columns, self.series, masks):
                column[offset + numpy.searchsorted(union, t[mask])] = \
                    v[mask]
            offset += len(union)
        return grans, times, columns

    def long(self):
        """(level columns, granularities, timestamps, values) of every
        point, series after series."""
        counts = [len(t) for t, _, _ in self.series]
        levels = {}
        for i, name in enumerate(self.level_names):
            levels[name] = numpy.repeat(
                numpy.array([label[i] for label in self.labels],
                            dtype=object), counts)
        if self.series:
            times, grans, values = (numpy.concatenate(part) for part in
                                    zip(*self.series))
        else:
            times, grans, values = _EMPTY
        return levels, grans, times, values


def render(table, shape="wide", output="pandas", granularity_index=True):
    """``table`` as ``output`` in ``shape``. ``granularity_index`` False
    (a single granularity was asked for) leaves granularity out of a wide
    table's index."""
    if shape not in SHAPES:
        raise ValueError("shape is one of %s, not %r" % (SHAPES, shape))
    if output not in OUTPUTS:
        raise ValueError("output is one of %s, not %r" % (OUTPUTS, output))
    if output == "numpy":
        return {_label(table, label): _structured(t, g, v)
                for label, (t, g, v) in zip(table.labels, table.series)}
    if shape == "wide":
        grans, times, columns = table.aligned()
        if output == "pandas":
            return _wide_pandas(table, grans, times, columns,
                                granularity_index)
        return _wide_arrow(table, grans, times, columns, granularity_index)
    levels, grans, times, values = table.long()
    if output == "pandas":
        import pandas

        frame = pandas.DataFrame(levels)
        frame["granularity"] = pandas.to_timedelta(
            numpy.round(grans * 1e9).astype(numpy.int64), unit="ns")
        frame["timestamp"] = pandas.to_datetime(times, unit="ns", utc=True)
        frame["value"] = values
        frame.attrs["units"] = dict(table.units)
        return frame
    import pyarrow

    data = {name: pyarrow.array(column.tolist(), pyarrow.string())
            for name, column in levels.items()}
    data.update(_arrow_times(grans, times))
    data["value"] = pyarrow.array(values)
    return pyarrow.table(data)


def _label(table, label):
    return label[0] if len(label) == 1 else label


def _structured(times, grans, values):
    out = numpy.empty(len(times), dtype=[("timestamp", "datetime64[ns]"),
                                         ("granularity", numpy.float64),
                                         ("value", numpy.float64)])
    out["timestamp"] = times.view("datetime64[ns]")
    out["granularity"] = grans
    out["value"] = values
    return out


def _wide_pandas(table, grans, times, columns, granularity_index):
    import pandas

    stamps = pandas.DatetimeIndex(
        pandas.to_datetime(times, unit="ns", utc=True), name="timestamp")
    if granularity_index:
        index = pandas.MultiIndex.from_arrays(
            [pandas.to_timedelta(numpy.round(grans * 1e9).astype(
                numpy.int64), unit="ns"), stamps],
            names=["granularity", "timestamp"])
    else:
        index = stamps
    if all(len(label) == 1 for label in table.labels):
        names = [label[0] for label in table.labels]
        header = pandas.Index(names, name=table.level_names[0],
                              dtype=object)
    else:
        header = pandas.MultiIndex.from_tuples(table.labels,
                                               names=table.level_names)
    frame = pandas.DataFrame(dict(enumerate(columns)), index=index)
    frame.columns = header
    frame.attrs["units"] = dict(table.units)
    return frame


def _arrow_times(grans, times):
    import pyarrow

    return {
        "granularity": pyarrow.array(
            numpy.round(grans * 1e9).astype(numpy.int64),
            pyarrow.duration("ns")),
        "timestamp": pyarrow.array(times, pyarrow.timestamp("ns", tz="UTC")),
    }


def _wide_arrow(table, grans, times, columns, granularity_index):
    import pyarrow

    data = _arrow_times(grans, times)
    if not granularity_index:
        del data["granularity"]
    for label, column in zip(table.labels, columns):
        data["/".join(str(part) for part in label)] = pyarrow.array(column)
    return pyarrow.table(data)
