"""Runs before any test module imports gnocchi: upstream's Ceph drivers,
which the tests compare against, need the system's rados module. Also the
Redis server and Ceph cluster the tests share."""
import os
import shutil
import tempfile
import uuid

import pytest

import project_services
import system_rados

system_rados.expose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A redis-server started by the project's script (or the one named by
    GNOCCHI_RS_REDIS_URL), shared by the session."""
    url = os.environ.get("GNOCCHI_RS_REDIS_URL")
    if url:
        yield url
        return
    workdir = str(tmp_path_factory.mktemp("redis"))
    env = project_services.start_service("redis", workdir)
    try:
        yield env["GNOCCHI_RS_REDIS_URL"]
    finally:
        project_services.stop_services(workdir)


@pytest.fixture(scope="session")
def postgresql_url(tmp_path_factory):
    """A PostgreSQL server started by the project's script (or the one
    named by GNOCCHI_RS_PG_URL), as a SQLAlchemy URL."""
    url = os.environ.get("GNOCCHI_RS_PG_SQLALCHEMY_URL") or \
        os.environ.get("GNOCCHI_RS_PG_URL")
    if url:
        yield url
        return
    # Outside pytest's own (root-only) directory: PostgreSQL runs as an
    # unprivileged user.
    workdir = tempfile.mkdtemp(prefix="gnocchi-rs-test-pg-")
    env = project_services.start_service("postgresql", workdir)
    try:
        yield env.get("GNOCCHI_RS_PG_SQLALCHEMY_URL", env["GNOCCHI_RS_PG_URL"])
    finally:
        project_services.stop_services(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def new_postgresql_database(postgresql_url):
    """A function giving the URL of a new database of its own on the
    session's PostgreSQL server."""
    import sqlalchemy

    url = sqlalchemy.engine.make_url(postgresql_url)

    def new_database():
        name = "gnocchi_%s" % uuid.uuid4().hex[:12]
        engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("CREATE DATABASE %s" % name)
        finally:
            engine.dispose()
        return url.set(database=name).render_as_string(hide_password=False)
    return new_database


@pytest.fixture(scope="session")
def new_mysql_database():
    """A MariaDB server started by the project's script (or the one named
    by GNOCCHI_RS_MYSQL_URL), as a SQLAlchemy URL: each use gets a new
    database of its own."""
    import pymysql
    url = os.environ.get("GNOCCHI_RS_MYSQL_URL")
    workdir = None
    if not url:
        workdir = tempfile.mkdtemp(prefix="gnocchi-rs-test-mariadb-")
        url = project_services.start_service("mariadb", workdir)[
            "GNOCCHI_RS_MYSQL_URL"]
    from gnocchi_rs.sack_worker import mysql_index
    arguments = mysql_index.connection_arguments(url)
    databases = []

    def new_database():
        name = "gnocchi_%s" % uuid.uuid4().hex[:12]
        connection = pymysql.connect(**dict(arguments, database=None))
        with connection.cursor() as cursor:
            cursor.execute("CREATE DATABASE %s CHARACTER SET utf8mb4" % name)
        connection.close()
        databases.append(name)
        base, _, query = url.partition("?")
        return "%s/%s%s" % (base.rsplit("/", 1)[0], name,
                            "?" + query if query else "")
    try:
        yield new_database
    finally:
        if workdir is not None:
            project_services.stop_services(workdir)
            shutil.rmtree(workdir, ignore_errors=True)


class CephCluster:
    """The cluster, and upstream's rados module to make pools and look at
    them (only the tests use it; gnocchi-rs does not)."""

    def __init__(self, conffile):
        import rados
        self.conffile = conffile
        self.rados = rados.Rados(conffile=conffile)
        self.rados.connect()
        self.pools = []

    def new_pool(self):
        name = "test-" + uuid.uuid4().hex[:12]
        self.rados.create_pool(name)
        self.pools.append(name)
        return name

    def ioctx(self, pool):
        return self.rados.open_ioctx(pool)

    def close(self):
        for name in self.pools:
            try:
                self.rados.delete_pool(name)
            except Exception:  # a cluster going away takes its pools
                pass
        self.rados.shutdown()


@pytest.fixture(scope="session")
def ceph_cluster(tmp_path_factory):
    conffile = os.environ.get("GNOCCHI_RS_CEPH_CONF")
    workdir = None
    if not conffile:
        workdir = str(tmp_path_factory.mktemp("ceph"))
        conffile = project_services.start_service("ceph", workdir)["GNOCCHI_RS_CEPH_CONF"]
    cluster = CephCluster(conffile)
    try:
        yield cluster
    finally:
        cluster.close()
        if workdir:
            project_services.stop_services(workdir)
