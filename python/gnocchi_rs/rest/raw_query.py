"""SELECTs of the native routes run on a pooled DBAPI connection.

SQLAlchemy Core finds a cached statement in its compiled cache, but
executing it still costs about 0.15 ms: a Connection object and its
events, an execution context, parameter and result processing set up per
call, a CursorResult. That is most of what a one-metric request spends in
the indexer. A :class:`RawQuery` compiles its statement once per dialect
(the SQL text, the order of its parameters, their bind processors and the
result columns' processors, all SQLAlchemy's own), then each call checks
a connection out of the engine's pool (oslo.db's pool events, the fork
guard and pre-ping among them, still run), executes, converts, and gives
the connection back (the pool's reset on return rolls back).

A database error is the DBAPI's, not wrapped by oslo.db: the native
routes hand any failure to upstream's code, which meets the database
through oslo.db again.
"""
from __future__ import annotations

import itertools
import threading


class _Compiled:
    __slots__ = ("sql", "positional", "order", "defaults", "bind",
                 "results")

    def __init__(self, statement, dialect):
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.positional = compiled.positional
        self.order = tuple(compiled.positiontup or ())
        # Literal values the statement holds (``status = 'active'``),
        # keyed by their compiled names.
        self.defaults = {name: bind.effective_value
                         for bind, name in compiled.bind_names.items()
                         if not bind.required}
        self.bind = {name: processor for name, processor
                     in compiled._bind_processors.items()}
        self.results = tuple(
            entry.type._cached_result_processor(dialect, None)
            for entry in compiled._result_columns)


class _BuiltOnce:
    """Values built once per key, also when threads ask at once."""

    def __init__(self):
        self._values = {}
        self._lock = threading.Lock()

    def get(self, key, build):
        value = self._values.get(key)
        if value is None:
            with self._lock:
                value = self._values.get(key)
                if value is None:
                    value = self._values[key] = build()
        return value


class RawQuery:
    """``connection.execute(statement, parameters).all()`` as plain tuples,
    without the Core execution machinery."""

    def __init__(self, statement):
        self.statement = statement
        self._by_dialect = _BuiltOnce()

    def _compiled(self, dialect):
        # The driver too: its parameter style is part of the SQL text.
        return self._by_dialect.get((dialect.name, dialect.driver),
                                    lambda: _Compiled(self.statement,
                                                      dialect))

    def rows(self, engine, parameters):
        """The rows, each a tuple of the statement's columns converted as
        SQLAlchemy converts them."""
        compiled = self._compiled(engine.dialect)
        values = dict(compiled.defaults)
        values.update(parameters)
        for name, processor in compiled.bind.items():
            values[name] = processor(values[name])
        arguments = (tuple(values[name] for name in compiled.order)
                     if compiled.positional else values)
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(compiled.sql, arguments)
                raw = cursor.fetchall()
            finally:
                cursor.close()
        finally:
            connection.close()
        processors = compiled.results
        if not any(processors):
            return [tuple(row) for row in raw]
        return [tuple(value if process is None else process(value)
                      for process, value in zip(processors, row))
                for row in raw]


def padded_size(count, largest):
    """The number of placeholders an ``IN`` list of ``count`` values is
    compiled with: the next power of two, at most ``largest``, so that a
    few statements serve every count."""
    size = 1
    while size < count and size < largest:
        size *= 2
    return size


class SizedInQuery:
    """A :class:`RawQuery` per combination of ``IN`` list sizes:
    ``make(*sizes)`` builds the statement with ``sizes[k]`` placeholders
    named ``in<k>_0 .. in<k>_<n-1>`` for list ``k``. Each list is sent in
    chunks of at most ``LARGEST`` values, padded with its last value (a
    repeated value changes nothing in an ``IN`` list); with several lists,
    one query per combination of chunks, so that every row is found
    once."""

    LARGEST = 512

    def __init__(self, make):
        self.make = make
        self._queries = _BuiltOnce()

    def _query(self, sizes):
        return self._queries.get(sizes,
                                 lambda: RawQuery(self.make(*sizes)))

    def rows(self, engine, *lists):
        chunked = []
        for values in lists:
            values = list(dict.fromkeys(values))
            if not values:
                return []
            chunked.append([values[start:start + self.LARGEST]
                            for start in range(0, len(values),
                                               self.LARGEST)])
        found = []
        for chunks in itertools.product(*chunked):
            sizes = tuple(padded_size(len(c), self.LARGEST) for c in chunks)
            arguments = {}
            for k, (chunk, size) in enumerate(zip(chunks, sizes)):
                padded = chunk + [chunk[-1]] * (size - len(chunk))
                arguments.update(("in%d_%d" % (k, i), v)
                                 for i, v in enumerate(padded))
            found.extend(self._query(sizes).rows(engine, arguments))
        return found
