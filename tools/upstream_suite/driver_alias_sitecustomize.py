"""sitecustomize.py for one run of tools/run-upstream-suite.sh --alias.

The script copies it as PYLIB/sitecustomize.py, PYLIB being on PYTHONPATH
for that run only (the venv is not modified).

Upstream's harness only sets up per-test isolation (temp dirs, pools, key
prefixes) for the driver names it knows. GNOCCHI_TEST_DRIVER_ALIAS keeps
those names in the configuration but makes gnocchi.utils.get_driver_class
(used by both gnocchi.storage.get_driver and gnocchi.incoming.get_driver)
load another entry point. gnocchi is NOT imported here: the wrapper is
installed right after gnocchi.utils is first imported, by a meta-path hook.
Likewise, right after gnocchi.rest.app is imported, gnocchi-rs' native
ingest path is put in front of the /v1 application its paste file builds.
"""
import importlib.machinery
import os
import sys


def _parse(spec):
    table = {}
    for item in spec.split(","):
        if "=" not in item:
            continue
        src, dst = (part.strip() for part in item.split("=", 1))
        if ":" in src:                       # storage:file=X / incoming:file=Y
            group, src = src.split(":", 1)
            table[("gnocchi." + group, src)] = dst
        else:
            table[("gnocchi.storage", src)] = dst
            table[("gnocchi.incoming", src)] = dst
    return table


_ALIASES = _parse(os.environ.get("GNOCCHI_TEST_DRIVER_ALIAS", ""))


def _wrap(utils):
    original = utils.get_driver_class

    def get_driver_class(namespace, conf):
        target = _ALIASES.get((namespace, conf.driver))
        if target is None:
            return original(namespace, conf)
        from stevedore import driver
        return driver.DriverManager(namespace, target).driver

    utils.get_driver_class = get_driver_class


def _native_ingest(rest_app):
    """gnocchi-rs' native request path (measure posts and reads) in front of upstream's /v1
    application, as `gnocchi-rs api` serves it (GNOCCHI_RS_NATIVE_API=0:
    upstream's application alone)."""
    from gnocchi_rs.rest import app
    app.install_in_upstream_factory()


_AFTER_IMPORT = {"gnocchi.utils": _wrap}
if os.environ.get("GNOCCHI_RS_NATIVE_API", "1") != "0":
    _AFTER_IMPORT["gnocchi.rest.app"] = _native_ingest


class _Hook:
    @staticmethod
    def find_spec(fullname, path, target=None):
        after = _AFTER_IMPORT.get(fullname)
        if after is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_wrap(module):
            exec_module(module)
            after(module)

        spec.loader.exec_module = exec_and_wrap
        return spec


if _ALIASES:
    sys.meta_path.insert(0, _Hook())
