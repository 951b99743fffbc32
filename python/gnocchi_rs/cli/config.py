"""``gnocchi-rs config``: a sample ``gnocchi.conf`` naming our drivers."""

import io
import sys
from importlib import metadata

# Upstream's gnocchi/gnocchi-config-generator.conf
CONFIG_NAMESPACES = ("gnocchi", "oslo.middleware.cors",
                     "oslo.middleware.healthcheck", "oslo.policy",
                     "cotyledon", "keystonemiddleware.auth_token")


def _installed_namespaces():
    installed = {entry.name for entry in metadata.entry_points(
        group="oslo.config.opts")}
    return [ns for ns in CONFIG_NAMESPACES if ns in installed]


def sample_config():
    """oslo-config-generator's sample for upstream's namespaces, with our
    storage driver as the value (incoming follows storage)."""
    from oslo_config import cfg
    from oslo_config import generator

    conf = cfg.ConfigOpts()
    generator.register_cli_opts(conf)
    argv = ["--wrap-width", "79"]
    for namespace in _installed_namespaces():
        argv += ["--namespace", namespace]
    conf(argv, project="gnocchi-rs", default_config_files=[],
         default_config_dirs=[])
    out = io.StringIO()
    generator.generate(conf, out)
    return _with_rs_drivers(out.getvalue())


def _with_rs_drivers(sample):
    lines, section = [], None
    for line in sample.splitlines(keepends=True):
        if line.startswith("[") and line.rstrip().endswith("]"):
            section = line.strip()[1:-1]
        if section == "storage" and line.strip() == "#driver = file":
            lines.append("# gnocchi-rs: rs-file, rs-redis or rs-ceph; "
                         "upstream's file, redis, ceph,\n"
                         "# swift and s3 still work.\n")
            line = "driver = rs-file\n"
        elif section == "indexer" and line.strip() == "#url = <None>":
            # Required, and deployment-specific: left for the operator.
            lines.append("# Required. gnocchi-rs adds sqlite:////path/to/"
                         "index.sqlite (one host;\n# set coordination_url "
                         "= file:///path then) to upstream's postgresql\n"
                         "# and mysql URLs.\n")
        lines.append(line)
    return "".join(lines)


def run(args):
    sample = sample_config()
    if args.output_file:
        with open(args.output_file, "w") as out:
            out.write(sample)
    else:
        sys.stdout.write(sample)
    return 0
