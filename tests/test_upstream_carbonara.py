"""Upstream's own ``gnocchi/tests/test_carbonara.py`` (from the installed
gnocchi 4.7 package), run against ``gnocchi_rs.carbonara``.

The upstream module is loaded from its source with its one
``from gnocchi import carbonara`` import pointed at our module, so its test
cases exercise the native core and nothing else changes.
"""

import importlib.util
import types

UPSTREAM_IMPORT = "from gnocchi import carbonara\n"
OUR_IMPORT = "from gnocchi_rs import carbonara\n"


def _load_upstream_tests():
    spec = importlib.util.find_spec("gnocchi.tests.test_carbonara")
    if spec is None or spec.origin is None:
        raise RuntimeError("gnocchi's test suite is not installed; "
                           "install gnocchi 4.7 from its wheel or sdist")
    with open(spec.origin) as f:
        source = f.read()
    if source.count(UPSTREAM_IMPORT) != 1:
        raise RuntimeError("unexpected layout of %s" % spec.origin)
    module = types.ModuleType("upstream_test_carbonara_on_gnocchi_rs")
    module.__file__ = spec.origin
    code = compile(source.replace(UPSTREAM_IMPORT, OUR_IMPORT), spec.origin,
                   "exec")
    exec(code, module.__dict__)
    if module.carbonara.__name__ != "gnocchi_rs.carbonara":
        raise RuntimeError("upstream tests did not pick up gnocchi_rs")
    return module


_upstream = _load_upstream_tests()

# Expose upstream's TestCase classes for collection.
for _name, _value in vars(_upstream).items():
    if isinstance(_value, type) and _name.startswith("Test"):
        globals()[_name] = _value
del _name, _value
