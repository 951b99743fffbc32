"""The WSGI application the API servers serve."""


def load_wsgi_app(conf):
    """Upstream's WSGI application (its paste pipeline: auth middleware,
    then the Pecan app) for ``conf``; built once per server process, after
    the fork. The one place where the served application is made."""
    from gnocchi.rest import app
    return app.load_app(conf)
