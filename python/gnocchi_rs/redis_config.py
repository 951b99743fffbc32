"""Connection settings of upstream's redis-py client, for the native one.

Upstream parses ``redis_url`` (including sentinel and TLS options) into a
redis-py client; the native drivers connect with the same settings (TLS
through rustls), asking the sentinel for the current master when there is
one.
"""
from __future__ import annotations

from gnocchi import storage

from gnocchi_rs import _native


def native_connection(client):
    """A native connection with the settings of a redis-py client."""
    return _native.RedisConnection(**native_kwargs(client))


# redis-py's TLS options the native client does not take: refused rather
# than ignored.
_TLS_UNSUPPORTED = ("ssl_password", "ssl_ca_path", "ssl_ca_data",
                    "ssl_ciphers", "ssl_min_version")


def _tls_settings(kwargs):
    for option in _TLS_UNSUPPORTED:
        if kwargs.get(option):
            raise storage.StorageError(
                "the rs-redis drivers do not take the TLS option %s; "
                "use the redis driver" % option)
    reqs = kwargs.get("ssl_cert_reqs", "required")
    # redis-py takes a name or an ssl.VerifyMode.
    reqs = {0: "none", 1: "optional", 2: "required"}.get(
        getattr(reqs, "value", reqs), reqs)
    return {"ssl": True,
            "ssl_ca_certs": kwargs.get("ssl_ca_certs"),
            "ssl_certfile": kwargs.get("ssl_certfile"),
            "ssl_keyfile": kwargs.get("ssl_keyfile"),
            "ssl_cert_reqs": None if reqs is None else str(reqs),
            "ssl_check_hostname": bool(kwargs.get("ssl_check_hostname"))}


def _sentinel_settings(pool):
    """The sentinels redis-py asks, so that the native client asks them
    again after a failover."""
    sentinels, first = [], None
    for sentinel in pool.sentinel_manager.sentinels:
        kwargs = sentinel.connection_pool.connection_kwargs
        sentinels.append((kwargs["host"], int(kwargs["port"])))
        first = first or kwargs
    first = first or {}
    return {"sentinels": sentinels, "sentinel_service": pool.service_name,
            "sentinel_username": first.get("username"),
            "sentinel_password": first.get("password"),
            "sentinel_ssl": bool(first.get("ssl")) or "SSL" in getattr(
                pool.sentinel_manager.sentinels[0].connection_pool
                .connection_class, "__name__", "")}


def native_kwargs(client):
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    settings = {
        "username": kwargs.get("username"),
        "password": kwargs.get("password"),
        "db": int(kwargs.get("db") or 0),
        "socket_timeout": kwargs.get("socket_timeout"),
        "socket_keepalive": bool(kwargs.get("socket_keepalive")),
    }
    if hasattr(pool, "get_master_address"):
        host, port = pool.get_master_address()
        settings.update(host=host, port=int(port))
        settings.update(_sentinel_settings(pool))
    elif kwargs.get("path"):
        settings["unix_socket_path"] = kwargs["path"]
    else:
        settings.update(host=kwargs.get("host", "localhost"),
                        port=int(kwargs.get("port", 6379)))
    if kwargs.get("ssl") or "SSL" in getattr(
            pool.connection_class, "__name__", ""):
        settings.update(_tls_settings(kwargs))
    return settings
