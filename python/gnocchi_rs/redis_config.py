"""Connection settings of upstream's redis-py client, for the native one.

Upstream parses ``redis_url`` (including sentinel options) into a redis-py
client; the native drivers connect with the same settings, asking the
sentinel for the current master when there is one.
"""
from __future__ import annotations

from gnocchi import storage

from gnocchi_rs import _native


def native_connection(client):
    """A native connection with the settings of a redis-py client."""
    return _native.RedisConnection(**native_kwargs(client))


def native_kwargs(client):
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    if kwargs.get("ssl") or "SSL" in getattr(
            pool.connection_class, "__name__", ""):
        raise storage.StorageError(
            "the rs-redis drivers do not speak TLS; use the redis driver")
    settings = {
        "username": kwargs.get("username"),
        "password": kwargs.get("password"),
        "db": int(kwargs.get("db") or 0),
        "socket_timeout": kwargs.get("socket_timeout"),
    }
    if hasattr(pool, "get_master_address"):
        host, port = pool.get_master_address()
        settings.update(host=host, port=int(port))
    elif kwargs.get("path"):
        settings["unix_socket_path"] = kwargs["path"]
    else:
        settings.update(host=kwargs.get("host", "localhost"),
                        port=int(kwargs.get("port", 6379)))
    return settings
