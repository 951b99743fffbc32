"""Upstream's options, read as upstream's commands read them: the files
given, else oslo.config's usual places (/etc/gnocchi/...)."""


def _oslo_args(args):
    oslo_args = []
    for path in args.config_file or ():
        oslo_args += ["--config-file", path]
    for path in args.config_dir or ():
        oslo_args += ["--config-dir", path]
    return oslo_args + args.oslo_args


def load_conf(args, log_to_std=False):
    """The configuration of a service subcommand."""
    from gnocchi import opts
    from gnocchi import service
    from oslo_config import cfg

    opts.set_defaults()
    return service.prepare_service(args=_oslo_args(args),
                                   conf=cfg.ConfigOpts(),
                                   log_to_std=log_to_std)
