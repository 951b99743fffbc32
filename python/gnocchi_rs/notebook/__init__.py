"""Gnocchi in a notebook: series as pandas DataFrames, pyarrow Tables or
numpy arrays, from a server or straight from a deployment's stored data,
and plotted in one call::

    from gnocchi_rs import notebook as gn
    g = gn.connect("http://127.0.0.1:8041", user="admin")   # or
    g = gn.open_local("~/.local/share/gnocchi-rs")          # no server
    frame = g.measures(g.metrics(name="cpu"), granularity=60)
    gn.plot(frame)

pandas and matplotlib come with the ``notebook`` extra
(``pip install 'gnocchi-rs[notebook]'``); pyarrow when it is installed.
"""
from gnocchi_rs.notebook.errors import BadQuery
from gnocchi_rs.notebook.errors import Forbidden
from gnocchi_rs.notebook.errors import GnocchiError
from gnocchi_rs.notebook.errors import NotFound
from gnocchi_rs.notebook.errors import ReadOnly
from gnocchi_rs.notebook.errors import Unavailable
from gnocchi_rs.notebook.plot import plot
from gnocchi_rs.notebook.server import serve
from gnocchi_rs.notebook.source import Gnocchi
from gnocchi_rs.notebook.transport import HttpTransport
from gnocchi_rs.notebook.transport import LocalTransport

__all__ = ["connect", "open_local", "serve", "plot", "Gnocchi",
           "GnocchiError", "BadQuery", "NotFound", "Forbidden",
           "Unavailable", "ReadOnly"]


def connect(url=None, user=None, password="", auth=None, session=None,
            timeout=60):
    """A Gnocchi server over HTTP. ``user``: basic authentication (a
    ``gnocchi-rs serve`` takes any user, ``admin`` sees everything);
    ``auth``: any requests authentication (what a remoteuser deployment's
    front server asks for); ``session``: a keystoneauth1 session (the URL
    then defaults to the catalog's metric endpoint)."""
    return Gnocchi(HttpTransport(url, user=user, password=password,
                                 auth=auth, session=session,
                                 timeout=timeout))


def open_local(path=None):
    """A local deployment, read in this process without a server and
    without writing: a ``gnocchi-rs serve`` data directory (default: the
    one ``gnocchi-rs serve`` uses) or a ``gnocchi.conf`` naming rs-file,
    rs-redis or rs-ceph and its indexer. Safe while its server and metricd
    run; reads as the admin."""
    if path is None:
        from gnocchi_rs.cli import serve as serve_command

        path = serve_command.default_data_dir()
    return Gnocchi(LocalTransport(path))
