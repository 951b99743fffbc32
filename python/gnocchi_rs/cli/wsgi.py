"""The WSGI application the API servers serve."""


def load_wsgi_app(conf):
    """gnocchi-rs' REST application for ``conf`` (upstream's paste pipeline,
    auth middleware, then the native ingest path in front of upstream's
    Pecan application, and the request guards: gnocchi_rs.rest.app); built
    once per server process, after the fork. The one place where the
    served application is made."""
    from gnocchi_rs.rest import app
    return app.load_app(conf)
