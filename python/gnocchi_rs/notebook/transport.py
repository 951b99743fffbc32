"""How a notebook source reaches Gnocchi's API: over HTTP, or in this
process against a local deployment's data (no server, read-only).

Both answer ``request(method, path, params, body)`` with ``(status,
headers, body bytes)`` for the same paths, so every query is built and
every answer read by the same code whichever the source; the local one
runs gnocchi-rs' own application (its native read path) in process.
"""
from __future__ import annotations

import base64
import json
import os
import urllib.parse

from gnocchi_rs.notebook import errors

_JSON = "application/json"


def _encoded(params):
    pairs = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, bool):
                item = "true" if item else "false"
            pairs.append((key, str(item)))
    return urllib.parse.urlencode(pairs)


class HttpTransport:
    """A running Gnocchi (gnocchi-rs or upstream) at ``url``."""

    def __init__(self, url=None, user=None, password="", auth=None,
                 session=None, timeout=60):
        import requests

        if url is None and session is None:
            raise errors.GnocchiError(
                "give the server's URL (or a keystoneauth session whose "
                "catalog has the metric service)")
        self.url = url.rstrip("/") if url else None
        self.timeout = timeout
        self._keystone = session
        self._http = requests.Session()
        self._headers = {"Accept": _JSON}
        if auth is not None:
            self._http.auth = auth
        elif user is not None and session is None:
            token = base64.b64encode(("%s:%s" % (user, password)).encode())
            self._headers["Authorization"] = "Basic " + token.decode()

    def describe(self):
        return self.url or "the metric service of the keystone catalog"

    def request(self, method, path, params=None, body=None):
        import requests

        query = _encoded(params)
        target = path + ("?" + query if query else "")
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = _JSON
        try:
            if self._keystone is not None:
                response = self._keystone.request(
                    (self.url or "") + target, method, data=data,
                    headers=headers, raise_exc=False,
                    endpoint_filter=None if self.url else {
                        "service_type": "metric", "interface": "public"})
            else:
                response = self._http.request(
                    method, self.url + target, data=data, headers=headers,
                    timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as e:
            raise errors.Unavailable(
                "Gnocchi at %s does not answer: %s" % (self.describe(), e)
            ) from None
        except Exception as e:  # keystoneauth's own connection errors
            if type(e).__module__.startswith("keystoneauth1"):
                raise errors.Unavailable(
                    "Gnocchi at %s does not answer: %s"
                    % (self.describe(), e)) from None
            raise
        return response.status_code, response.headers, response.content

    def close(self):
        self._http.close()


# The requests a read-only source may make: reads, and the POSTs that
# only read (searches and aggregations).
_READ_POSTS = ("/v1/aggregates", "/v1/search/", "/v1/aggregation/")


class LocalTransport:
    """A local deployment read in this process: a ``gnocchi-rs serve``
    data directory or a ``gnocchi.conf``. Reads only, as the admin (the
    files are readable here anyway), safe while the deployment's server and
    metricd run."""

    def __init__(self, path):
        path = os.path.abspath(os.path.expanduser(path))
        if os.path.isdir(path):
            conf_file = os.path.join(path, "gnocchi.conf")
        else:
            conf_file = path
        if not os.path.isfile(conf_file):
            raise errors.GnocchiError(
                "%s is neither a gnocchi-rs data directory (with its "
                "gnocchi.conf) nor a gnocchi.conf" % path)
        self.conf_file = conf_file
        self._app = _local_application(conf_file)
        self._authorization = "Basic " + base64.b64encode(b"admin:").decode()

    def describe(self):
        return "the deployment of %s" % self.conf_file

    def request(self, method, path, params=None, body=None):
        import webob

        if method != "GET" and not (method == "POST" and path.startswith(
                _READ_POSTS)):
            raise errors.ReadOnly(
                "a local source only reads; %s %s needs a server "
                "(gnocchi_rs.notebook.connect)" % (method, path))
        if str((params or {}).get("refresh", "")).lower() in (
                "true", "1", "yes"):
            raise errors.ReadOnly(
                "a local source only reads; a refresh processes measures, "
                "ask the server (gnocchi_rs.notebook.connect)")
        query = _encoded(params)
        request = webob.Request.blank(
            path + ("?" + query if query else ""), method=method,
            headers={"Accept": _JSON, "Authorization": self._authorization})
        if body is not None:
            request.body = json.dumps(body).encode()
            request.content_type = _JSON
        response = request.get_response(self._app)
        return response.status_int, response.headers, response.body

    def close(self):
        pass


def _local_application(conf_file):
    """gnocchi-rs' WSGI application on the configuration of
    ``conf_file``, with basic authentication whatever the deployment's."""
    from gnocchi import opts
    from gnocchi import utils
    from oslo_config import cfg
    from oslo_db import options as db_options

    from gnocchi_rs.rest import app

    # upstream's prepare_service without its logging set-up, which would
    # take over the notebook's root logger.
    opts.set_defaults()
    conf = cfg.ConfigOpts()
    db_options.set_defaults(conf)
    for group, options in opts.list_opts():
        conf.register_opts(list(options),
                           group=None if group == "DEFAULT" else group)
    try:
        conf(["--config-file", conf_file], project="gnocchi",
             validate_default_values=True, default_config_files=[])
    except cfg.Error as e:
        raise errors.GnocchiError(
            "%s is not a usable gnocchi.conf: %s" % (conf_file, e)) from None
    conf.set_override("auth_mode", "basic", "api")
    if not hasattr(utils.parallel_map, "MAX_WORKERS"):
        utils.parallel_map.MAX_WORKERS = conf.parallel_operations
    try:
        return app.load_app(conf, not_implemented_middleware=False)
    except Exception as e:
        raise errors.Unavailable(
            "the deployment of %s cannot be opened: %s" % (conf_file, e)
        ) from None
