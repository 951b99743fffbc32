"""One call from a table of series to a matplotlib chart."""
from __future__ import annotations


def plot(frame, ax=None, title=None, ylabel=None):
    """Draws each column of a wide frame (``measures()`` or
    ``aggregates()``) against time, one line per column and granularity,
    with names (and units, when known) in the legend. Returns the axes."""
    import pandas
    from matplotlib import pyplot

    if ax is None:
        _, ax = pyplot.subplots(figsize=(10, 4))
    units = frame.attrs.get("units", {})
    by_granularity = isinstance(frame.index, pandas.MultiIndex)
    parts = ([(g, frame.xs(g, level="granularity"))
              for g in frame.index.get_level_values("granularity").unique()]
             if by_granularity else [(None, frame)])
    for granularity, part in parts:
        for column in part.columns:
            values = part[column].dropna()
            label = column if isinstance(column, str) else " / ".join(
                str(c) for c in column)
            if column in units:
                label += " (%s)" % units[column]
            if granularity is not None and len(parts) > 1:
                label += " @ %s" % _timespan(granularity)
            ax.plot(values.index, values.to_numpy(), label=label)
    shown = set(units.get(c) for c in frame.columns if c in units)
    if ylabel is None and len(shown) == 1:
        ylabel = shown.pop()
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.set_xlabel("time (UTC)")
    if title:
        ax.set_title(title)
    if len(ax.get_lines()):
        ax.legend(loc="best", fontsize="small")
    ax.figure.autofmt_xdate()
    return ax


def _timespan(granularity):
    seconds = granularity.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return "%d%s" % (seconds // size, unit)
    return "%gs" % seconds
