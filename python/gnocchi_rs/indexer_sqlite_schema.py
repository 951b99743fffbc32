"""Schema upgrades of an SQLite index, the SQLite way.

Upstream's alembic migrations cannot run on SQLite: they ALTER columns and
constraints, which SQLite does not have. An SQLite index is instead brought
to the current schema as SQLite's documentation prescribes for any change
of a table's definition (https://www.sqlite.org/lang_altertable.html,
"Making Other Kinds Of Table Schema Changes"), in one transaction:

1. foreign key enforcement off (outside the transaction: SQLite ignores
   the pragma inside one), then ``BEGIN IMMEDIATE``;
2. for each of upstream's tables whose definition differs from the one the
   current models create: the new definition created under a temporary
   name, the columns both have copied over (a new column takes its server
   default, as upstream's ``add_column`` gives it), the old table dropped
   (its indexes with it), the new one renamed and its indexes created;
3. ``PRAGMA foreign_key_check``: any row whose reference broke rolls the
   whole upgrade back;
4. the alembic revision set to the head, and commit.

Afterwards the tables are exactly what a new index gets (the same
CREATE TABLE text, up to the quoting of the renamed table's name), so
everything written for a fresh index holds for an upgraded one. Resource
type tables (``rt_*``) are left alone: no migration since upstream's
first SQLite-capable release touches them.

A migration that only changes the schema needs nothing here: the tables
follow the models. One that transforms data gets a step in
``DATA_STEPS``, keyed by its revision, run on the new tables after the
copy, inside the same transaction; each revision an index passes through
is listed in ``SCHEMA_ONLY`` or ``DATA_STEPS``, and an upgrade through a
revision in neither is refused (a new upstream migration must be looked
at before SQLite indexes go through it).
"""
from __future__ import annotations

import logging
import re
import sqlite3

from alembic.util import exc as alembic_exc
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex
from sqlalchemy.schema import CreateTable

from gnocchi import indexer
from gnocchi.indexer import sqlalchemy as sql_indexer

# Under "gnocchi", whose level the services set, beside the upgrade
# command's own lines.
LOG = logging.getLogger("gnocchi.rs.upgrade")

#: Upstream's migrations after 4.6 (04eba72e4f90, the oldest revision an
#: SQLite index can be upgraded from) whose effect is only the schema:
#: a column added with a server default, a column widened.
SCHEMA_ONLY = frozenset((
    "18fff4509e3e",   # metric.needs_raw_data_truncation, default true
    "94544ca86c7e",   # original_resource_id 255 -> 289 characters
    "f89ed2e3c2ec",   # metric.last_measure_timestamp, default now
))

#: revision -> function(sqlite3 connection), run after the tables are
#: rebuilt, for migrations that transform data. None so far.
DATA_STEPS = {}

#: The oldest revision upgrades start from: upstream 4.6's head, the
#: schema before the migrations above.
OLDEST = "04eba72e4f90"

_TEMPORARY_PREFIX = "_gnocchi_rs_new_"
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(\"[^\"]+\"|\S+)\s*",
                           re.IGNORECASE)


class SchemaUpgradeError(indexer.IndexerException):
    pass


def model_statements(tables=None):
    """{table name: (CREATE TABLE, [CREATE INDEX...])} of the current
    models for SQLite."""
    dialect = sqlite_dialect.dialect()
    metadata = sql_indexer.Base.metadata
    names = tables or [t.name for t in metadata.sorted_tables
                       if not t.name.startswith("rt_")]
    out = {}
    for table in metadata.sorted_tables:
        if table.name in names:
            out[table.name] = (
                str(CreateTable(table).compile(dialect=dialect)).strip(),
                [str(CreateIndex(index).compile(dialect=dialect)).strip()
                 for index in sorted(table.indexes, key=lambda i: i.name)])
    return out


def _body(create_sql):
    """A CREATE TABLE statement without its name, whitespace collapsed."""
    return " ".join(_CREATE_TABLE.sub("", create_sql, count=1).split())


def _stored_tables(connection):
    return dict(connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table'"))


def _columns(connection, table):
    return [row[1] for row in connection.execute(
        'PRAGMA table_info("%s")' % table.replace('"', '""'))]


def rebuild_tables(connection, statements):
    """Give each table of ``statements`` ({name: (CREATE TABLE, [CREATE
    INDEX...])}) that definition, keeping the rows (the columns both
    definitions have); tables whose definition is already that are left
    alone. Runs in the caller's transaction, foreign keys off. Returns the
    names of the tables rebuilt."""
    stored = _stored_tables(connection)
    rebuilt = []
    for name, (create, indexes) in statements.items():
        if name in stored and _body(stored[name]) == _body(create):
            continue
        temporary = _TEMPORARY_PREFIX + name
        connection.execute('DROP TABLE IF EXISTS "%s"' % temporary)
        connection.execute(_CREATE_TABLE.sub(
            'CREATE TABLE "%s" ' % temporary, create, count=1))
        if name in stored:
            old = set(_columns(connection, name))
            common = ", ".join('"%s"' % c for c in _columns(
                connection, temporary) if c in old)
            connection.execute('INSERT INTO "%s" (%s) SELECT %s FROM "%s"'
                               % (temporary, common, common, name))
            connection.execute('DROP TABLE "%s"' % name)
        connection.execute('ALTER TABLE "%s" RENAME TO "%s"'
                           % (temporary, name))
        for statement in indexes:
            connection.execute(statement)
        rebuilt.append(name)
    return rebuilt


def _revisions_to(scripts, current, head):
    """The revisions after ``current`` up to ``head``, oldest first."""
    try:
        scripts.get_revision(current)
        path = [script.revision for script in
                scripts.walk_revisions(base=current, head=head)]
    except alembic_exc.CommandError:
        raise SchemaUpgradeError(
            "The SQLite index is at schema revision %s, which this version "
            "of Gnocchi does not know (written by a newer version?); its "
            "schema is at %s" % (current, head))
    path = [revision for revision in reversed(path) if revision != current]
    unknown = [r for r in path if r not in SCHEMA_ONLY and r not in DATA_STEPS]
    if unknown:
        raise SchemaUpgradeError(
            "The SQLite index is at schema revision %s; upgrading it to %s "
            "passes through migrations not yet checked for SQLite (%s). "
            "SQLite indexes can be upgraded from revision %s onward"
            % (current, head, ", ".join(unknown), OLDEST))
    return path


def upgrade_file(path, scripts, head, busy_timeout):
    """Bring the SQLite index at ``path`` from its alembic revision to
    ``head``, if it has one and it is not the head. Returns the revisions
    applied (empty when there was nothing to do)."""
    connection = sqlite3.connect(path, timeout=busy_timeout,
                                 isolation_level=None)
    try:
        connection.execute("PRAGMA foreign_keys = OFF")
        connection.execute("BEGIN IMMEDIATE")
        try:
            applied = _upgrade(connection, scripts, head)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT" if applied else "ROLLBACK")
        if applied:
            LOG.info("Upgraded the SQLite index %s to schema revision %s "
                     "(through %s)", path, head, ", ".join(applied))
        return applied
    finally:
        connection.close()


def _upgrade(connection, scripts, head):
    if "alembic_version" not in _stored_tables(connection):
        return []
    row = connection.execute(
        "SELECT version_num FROM alembic_version").fetchone()
    current = row[0] if row else None
    if current is None or current == head:
        return []
    revisions = _revisions_to(scripts, current, head)
    rebuild_tables(connection, model_statements())
    for revision in revisions:
        step = DATA_STEPS.get(revision)
        if step is not None:
            step(connection)
    broken = connection.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise SchemaUpgradeError(
            "Upgrading the SQLite index would leave %d rows whose foreign "
            "key references nothing (first: table %s, row %s); nothing was "
            "changed" % (len(broken), broken[0][0], broken[0][1]))
    connection.execute("UPDATE alembic_version SET version_num = ?",
                       (head,))
    return revisions
