"""The WSGI entry point for servers that import one (uwsgi's ``module``,
mod_wsgi, granian ``gnocchi_rs.rest.wsgi:application``): upstream's
``gnocchi.rest.wsgi`` with gnocchi-rs' application."""
from gnocchi.cli import api

from gnocchi_rs.rest import app

application = app.load_app(api.prepare_service())
