"""An SQLite indexer: upstream's SQLAlchemy indexer, made to work on one
database file shared by an API process and metricd processes.

Selected by ``[indexer] url = sqlite:////path/to/index.sqlite`` (the
``sqlite`` entry point of ``gnocchi.indexer``). ``coordination_url`` must be
set too (e.g. ``file:///path``): tooz has no SQLite driver.

What differs from PostgreSQL, and how it is handled here:

* Concurrency. SQLite has one writer at a time. Every connection uses WAL
  (readers never wait for the writer) and a busy timeout, and every write
  transaction starts with ``BEGIN IMMEDIATE``, so writers queue for the
  lock when they start instead of failing with "database is locked" when
  a reading transaction tries to become a writing one. Starting a write
  transaction is retried while the lock stays taken.
* Schema. SQLite cannot ALTER constraints, so alembic's migrations do not
  run: a database is created at the current schema and stamped, and one
  at an older revision is upgraded by rebuilding the tables that changed
  (copy into a new table, in one transaction, foreign keys checked after:
  gnocchi_rs.indexer_sqlite_schema).
* Foreign keys are enforced (``PRAGMA foreign_keys=ON``; upstream relies on
  them for ON DELETE CASCADE/RESTRICT), but SQLite's error does not name the
  violated constraint, so the "in use"/"no such" errors are decided from
  what the operation can reference.
* CHECK violations come back as generic errors: mapped by message.
* Connections. oslo.db opens a new SQLite connection for every
  transaction (it puts NullPool back); opening one and setting it up costs
  about 1.7 ms, more than the rest of a small request. Connections are
  pooled instead, with oslo.db's own connection hooks (its fork guard
  among them).
* ``ended_at - started_at`` is meaningless on SQLite's text timestamps: the
  ``lifespan`` filter uses julianday() arithmetic instead.
"""
from __future__ import annotations

import contextlib
import operator
import os
import re
import sqlite3
import threading
import uuid

import daiquiri
import sqlalchemy
from alembic import migration
from alembic import operations
from alembic import script as alembic_script
from oslo_db import exception as db_exception

from gnocchi import indexer
from gnocchi.resource_type import ResourceTypeAttributes
from gnocchi import utils
from gnocchi.indexer import sqlalchemy as sql_indexer

from gnocchi_rs import indexer_sqlite_schema

LOG = daiquiri.getLogger(__name__)

# How long one attempt at taking the write lock waits (SQLite's busy
# handler), and how many attempts are made before giving up.
BUSY_TIMEOUT_SECONDS = 5
WRITE_LOCK_ATTEMPTS = 12
# Connections kept open per process (a process serves a few threads at
# most), and how many more may be open at once beyond those.
POOL_SIZE = 4
POOL_OVERFLOW = 16

_CHECK_STARTED_BEFORE_ENDED = re.compile(
    r"CHECK constraint failed: ck_resource(_history)?_started_before_ended")


# --------------------------------------------------------------- connections

# Per thread, for each open transaction scope (innermost last): whether it
# writes. The "begin" hook reads it to choose BEGIN IMMEDIATE or BEGIN.
_scopes = threading.local()


def _scope_stack():
    if not hasattr(_scopes, "stack"):
        _scopes.stack = []
    return _scopes.stack


@contextlib.contextmanager
def _declared_scope(context_manager, writes, independent):
    stack = _scope_stack()
    # A scope that joins the enclosing transaction writes if that one does.
    if stack and not independent:
        writes = writes or stack[-1]
    stack.append(writes)
    try:
        with context_manager as value:
            yield value
    finally:
        stack.pop()


def _configure_connection(dbapi_connection, _record):
    dbapi_connection.execute(
        "PRAGMA busy_timeout = %d" % (BUSY_TIMEOUT_SECONDS * 1000))
    dbapi_connection.execute("PRAGMA journal_mode = WAL").fetchall()
    dbapi_connection.execute("PRAGMA foreign_keys = ON")
    # Safe with WAL: a power loss can only lose the last commits.
    dbapi_connection.execute("PRAGMA synchronous = NORMAL")


def _begin(connection):
    # The marker oslo.db's commit/rollback hooks clear.
    if "in_transaction" in connection.info:
        return
    stack = _scope_stack()
    writes = bool(stack and stack[-1])
    dbapi_connection = connection.connection.driver_connection
    for attempt in range(1, WRITE_LOCK_ATTEMPTS + 1):
        try:
            dbapi_connection.execute("BEGIN IMMEDIATE" if writes else "BEGIN")
            break
        except sqlite3.OperationalError as e:
            if ("database is locked" not in str(e)
                    or attempt == WRITE_LOCK_ATTEMPTS):
                raise db_exception.DBError(e) from e
            LOG.warning("SQLite index: write lock still taken after %ds "
                        "(attempt %d/%d), waiting again",
                        BUSY_TIMEOUT_SECONDS, attempt, WRITE_LOCK_ATTEMPTS)
    connection.info["in_transaction"] = True


def _end_of_checkout(_dbapi_connection, connection_record):
    # The transaction marker lives with the pooled connection: a
    # connection handed back without a commit or rollback event (the
    # pool's own reset) must not look in a transaction to its next user.
    connection_record.info.pop("in_transaction", None)


def _pool_connections(engine):
    """Replaces oslo.db's NullPool by a pool that keeps connections, with
    the listeners oslo.db and SQLAlchemy put on it."""
    unpooled = engine.pool
    if not isinstance(unpooled, sqlalchemy.pool.NullPool):
        return
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    # A pooled connection serves one thread at a time, not always the same.
    kwargs = dict(kwargs, check_same_thread=False)
    pool = sqlalchemy.pool.QueuePool(
        lambda: engine.dialect.connect(*args, **kwargs),
        pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW,
        dialect=engine.dialect)
    for event in ("connect", "checkout", "checkin"):
        for listener in list(getattr(unpooled.dispatch, event)):
            # oslo.db's yield to eventlet's greenthreads, a time.sleep(0)
            # per checkin (about 80 us when other threads run: a tenth of
            # a small API request); nothing in gnocchi runs on eventlet.
            if getattr(listener, "__name__", None) != "_thread_yield":
                sqlalchemy.event.listen(pool, event, listener)
    sqlalchemy.event.listen(pool, "checkin", _end_of_checkout)
    engine.pool = pool


def _prepare_engine(engine):
    sqlalchemy.event.listen(engine, "connect", _configure_connection)
    _pool_connections(engine)
    # oslo.db's own hook emits a plain BEGIN for every transaction; ours
    # replaces it (listener order cannot be relied on: SQLAlchemy ignores
    # insert=True for connection events).
    for listener in list(engine.dispatch.begin):
        if getattr(listener, "__name__", None) == "_sqlite_emit_begin":
            sqlalchemy.event.remove(engine, "begin", listener)
    if list(engine.dispatch.begin):
        raise RuntimeError("unexpected transaction hooks on the SQLite "
                           "engine: %s" % list(engine.dispatch.begin))
    sqlalchemy.event.listen(engine, "begin", _begin)


class _SQLiteFacade(sql_indexer.PerInstanceFacade):
    """Upstream's facade, telling the "begin" hook which scopes write."""

    def __init__(self, conf):
        super().__init__(conf)
        self.trans.append_on_engine_create(_prepare_engine)

    def writer(self):
        return _declared_scope(super().writer(), True, False)

    def independent_writer(self):
        return _declared_scope(super().independent_writer(), True, True)

    def writer_connection(self):
        return _declared_scope(super().writer_connection(), True, False)

    def reader(self):
        return _declared_scope(super().reader(), False, False)

    def independent_reader(self):
        return _declared_scope(super().independent_reader(), False, True)

    def reader_connection(self):
        return _declared_scope(super().reader_connection(), False, False)


# ------------------------------------------------------------------ queries

class _QueryTransformer(sql_indexer.QueryTransformer):
    """Upstream's filters, with a ``lifespan`` that works on SQLite."""

    @classmethod
    def _handle_binary_op(cls, engine, table, op, nodes):
        if (engine != "sqlite" or not isinstance(nodes, dict)
                or list(nodes) != ["lifespan"]):
            return super()._handle_binary_op(engine, table, op, nodes)
        seconds = utils.timespan_total_seconds(
            utils.to_timespan(nodes["lifespan"]))
        days = (sqlalchemy.func.julianday(table.ended_at)
                - sqlalchemy.func.julianday(table.started_at))
        # julianday() is a double: round off its sub-millisecond noise.
        lifespan = sqlalchemy.func.round(days * 86400.0, 3)
        if op is operator.ne:
            return sqlalchemy.or_(lifespan.is_(None), lifespan != seconds)
        return op(lifespan, seconds)


# Upstream's methods look the class up by this module-level name at call
# time; ours only differs for the sqlite dialect.
sql_indexer.QueryTransformer = _QueryTransformer


# ----------------------------------------------------------- resource types

class _ResourceClassMapper(sql_indexer.ResourceClassMapper):
    def unmap_and_delete_tables(self, resource_type, facade):
        # Upstream drops the foreign keys first (a PostgreSQL locking
        # concern); SQLite has no ALTER TABLE ... DROP CONSTRAINT.
        if resource_type.state != "deleting":
            raise RuntimeError("unmap_and_delete_tables must be called in "
                               "state deleting")
        mappers = self.get_classes(resource_type)
        del self._cache[resource_type.tablename]
        tables = [sql_indexer.Base.metadata.tables[
            mappers[purpose].__tablename__] for purpose in ("resource",
                                                            "history")]
        with facade.writer_connection() as connection:
            for table in tables:
                table.drop(connection, checkfirst=True)
        for table in tables:
            sql_indexer.Base.metadata.remove(table)


def _alter_attribute_columns(op, connection, table_name, add_attributes,
                             del_attributes, update_attributes):
    """Change one table of a resource type, without relying on column
    defaults: SQLite cannot drop a default, and batch mode cannot copy rows
    into a NOT NULL column added by the same batch."""
    for attr in add_attributes:
        op.add_column(table_name, sqlalchemy.Column(attr.name, attr.satype,
                                                    nullable=True))
        if attr.fill is not None:
            _fill(connection, table_name, attr, only_nulls=False)
    for new, _old in update_attributes:
        if new.fill is not None:
            _fill(connection, table_name, new, only_nulls=True)

    # Column drops and NOT NULL changes recreate the table (copying rows).
    with op.batch_alter_table(table_name) as batch_op:
        for name in del_attributes:
            batch_op.drop_column(name)
        for attr in add_attributes:
            if attr.required:
                batch_op.alter_column(attr.name, existing_type=attr.satype,
                                      existing_nullable=True, nullable=False)
        for new, old in update_attributes:
            batch_op.alter_column(new.name, existing_type=old.satype,
                                  existing_nullable=not old.required,
                                  type_=new.satype,
                                  nullable=not new.required)


def _fill(connection, table_name, attr, only_nulls):
    # Typed so that UUIDs, booleans and timestamps are stored as the
    # mapped classes store them.
    column = sqlalchemy.column(attr.name, attr.satype)
    stmt = sqlalchemy.update(sqlalchemy.table(table_name, column)).values(
        {attr.name: attr.fill})
    if only_nulls:
        stmt = stmt.where(column.is_(None))
    connection.execute(stmt)


# ------------------------------------------------------------------ indexer

class SQLiteIndexer(sql_indexer.SQLAlchemyIndexer):
    _RESOURCE_TYPE_MANAGER = _ResourceClassMapper()

    def __init__(self, conf):
        super().__init__(conf)
        # SQLite creates the file, not the directories leading to it.
        database = sqlalchemy.engine.make_url(conf.indexer.url).database
        if database and database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(database)),
                        exist_ok=True)
        self.facade = _SQLiteFacade(conf)

    def __str__(self):
        # An SQLite URL has no credentials to hide.
        return "%s: %s" % (self.__class__.__name__, self.conf.indexer.url)

    def upgrade(self, nocreate=False):
        """Create a fresh database at the current schema, or bring an
        older one to it (indexer_sqlite_schema); accept one that is already
        there. ``nocreate`` (build the schema by migrating) is refused on an
        empty database: upstream's migrations need ALTER TABLE statements
        SQLite does not have."""
        config = self._get_alembic_config()
        scripts = alembic_script.ScriptDirectory.from_config(config)
        head = scripts.get_current_head()
        database = sqlalchemy.engine.make_url(self.conf.indexer.url).database
        if database and database != ":memory:" and os.path.exists(database):
            indexer_sqlite_schema.upgrade_file(
                database, scripts, head,
                BUSY_TIMEOUT_SECONDS * WRITE_LOCK_ATTEMPTS)
        # One transaction, so that concurrent upgrades queue on the write
        # lock and the last ones find the work done.
        with self.facade.writer() as session:
            connection = session.connection()
            context = migration.MigrationContext.configure(connection)
            current = context.get_current_revision()
            if current is None and nocreate:
                raise indexer.IndexerException(
                    "SQLite indexes cannot be built by running the schema "
                    "migrations (SQLite has no ALTER for constraints); "
                    "upgrade() without nocreate creates them at revision %s"
                    % head)
            if current is None:
                sql_indexer.Base.metadata.create_all(connection)
                context.stamp(scripts, "head")
            elif current != head:
                # Only an index the file upgrade could not see gets here
                # (an in-memory one).
                raise indexer.IndexerException(
                    "The SQLite index %s is at schema revision %s, not %s"
                    % (self.conf.indexer.url, current, head))
            if session.get(sql_indexer.ResourceType, "generic") is None:
                session.add(sql_indexer.ResourceType(
                    name="generic", tablename="generic", state="active",
                    attributes=ResourceTypeAttributes()))

    def update_resource_type(self, name, add_attributes=None,
                             del_attributes=None, update_attributes=None):
        if not add_attributes and not del_attributes and not update_attributes:
            return
        add_attributes = add_attributes or []
        del_attributes = del_attributes or []
        update_attributes = update_attributes or []

        # SQLite's DDL is transactional: a failure leaves everything as it
        # was, so there is no "updating" state to expose.
        with self.facade.writer() as session:
            rt = self._get_resource_type(session, name)
            if rt.state != "active":
                raise indexer.UnexpectedResourceTypeState(
                    name, "active", rt.state)
            connection = session.connection()
            op = operations.Operations(
                migration.MigrationContext.configure(connection))
            for table_name in (rt.tablename, "%s_history" % rt.tablename):
                _alter_attribute_columns(op, connection, table_name,
                                         add_attributes, del_attributes,
                                         update_attributes)

            replaced = set(del_attributes)
            replaced.update(new.name for new, _old in update_attributes)
            rt.attributes.extend(add_attributes)
            for attr in list(rt.attributes):
                if attr.name in replaced:
                    rt.attributes.remove(attr)
            rt.attributes.extend(new for new, _old in update_attributes)
            # attributes is a JSON column: in-place changes go unnoticed.
            sqlalchemy.orm.attributes.flag_modified(rt, "attributes")
            rt.updated_at = utils.utcnow()
        return rt

    # SQLite's foreign key errors do not name the constraint upstream looks
    # for; each of these operations can only break one kind of reference.

    def _mark_as_deleting_resource_type(self, name):
        try:
            return super()._mark_as_deleting_resource_type(name)
        except db_exception.DBReferenceError:
            raise indexer.ResourceTypeInUse(name)

    def delete_archive_policy(self, name):
        try:
            return super().delete_archive_policy(name)
        except db_exception.DBReferenceError:
            raise indexer.ArchivePolicyInUse(name)

    def create_archive_policy_rule(self, name, metric_pattern,
                                   archive_policy_name):
        try:
            return super().create_archive_policy_rule(
                name, metric_pattern, archive_policy_name)
        except db_exception.DBReferenceError:
            raise indexer.NoSuchArchivePolicy(archive_policy_name)

    def create_metric(self, id, creator, archive_policy_name,
                      name=None, unit=None, resource_id=None):
        try:
            return super().create_metric(id, creator, archive_policy_name,
                                         name=name, unit=unit,
                                         resource_id=resource_id)
        except db_exception.DBReferenceError:
            if self.get_archive_policy(archive_policy_name) is None:
                raise indexer.NoSuchArchivePolicy(archive_policy_name)
            raise indexer.NoSuchResource(resource_id)

    def create_resource(self, resource_type, id, creator, user_id=None,
                        project_id=None, started_at=None, ended_at=None,
                        metrics=None, **kwargs):
        try:
            return super().create_resource(
                resource_type, id, creator, user_id=user_id,
                project_id=project_id, started_at=started_at,
                ended_at=ended_at, metrics=metrics, **kwargs)
        except db_exception.DBReferenceError:
            self._raise_missing_archive_policy(metrics)
            raise

    def update_resource(self, resource_type, resource_id,
                        ended_at=indexer._marker, metrics=indexer._marker,
                        **kwargs):
        try:
            return super().update_resource(resource_type, resource_id,
                                           ended_at=ended_at,
                                           metrics=metrics, **kwargs)
        except db_exception.DBReferenceError:
            self._raise_missing_archive_policy(metrics)
            raise
        except db_exception.DBError as e:
            # Upstream maps DBConstraintError by name; oslo.db does not
            # recognise SQLite's CHECK failures.
            if _CHECK_STARTED_BEFORE_ENDED.search(str(e)):
                raise indexer.ResourceValueError(
                    resource_type, "ended_at", ended_at)
            raise

    def _raise_missing_archive_policy(self, metrics):
        """The metrics to create (dicts) name archive policies; raise
        NoSuchArchivePolicy for the first one that does not exist."""
        if not isinstance(metrics, dict):
            return
        for value in metrics.values():
            if isinstance(value, uuid.UUID):
                continue
            name = value["archive_policy_name"]
            if self.get_archive_policy(name) is None:
                raise indexer.NoSuchArchivePolicy(name)
