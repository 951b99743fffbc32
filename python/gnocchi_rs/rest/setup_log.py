"""Upstream's line about each application it sets up, made readable:
upstream logs ``conf.__dict__`` at INFO, several kilobytes of Python repr
on one line, twice per API process. At INFO it becomes the context path
and the configuration files; the dump itself is kept at DEBUG.
"""
from __future__ import annotations

import logging

UPSTREAM_LOGGER = "gnocchi.rest.app"
_UPSTREAM_MESSAGE = ("Application setup for context path [%s] and "
                     "configurations [%s].")


def _configuration_files(conf_dict):
    namespace = conf_dict.get("_namespace") if isinstance(
        conf_dict, dict) else None
    files = getattr(namespace, "config_file", None) or \
        (conf_dict.get("config_file") if isinstance(conf_dict, dict)
         else None)
    return ", ".join(map(str, files)) if files else "defaults only"


class ApplicationSetup(logging.Filter):
    def filter(self, record):
        if record.msg != _UPSTREAM_MESSAGE or not isinstance(
                record.args, tuple) or len(record.args) != 2:
            return True
        if logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return True
        root, conf_dict = record.args
        record.msg = ("Application setup for context path [%s] "
                      "(configuration: %s; its dump is logged at DEBUG)")
        record.args = (root, _configuration_files(conf_dict))
        return True


def install():
    """Adds the filter to upstream's logger (once)."""
    logger = logging.getLogger(UPSTREAM_LOGGER)
    if not any(isinstance(f, ApplicationSetup) for f in logger.filters):
        logger.addFilter(ApplicationSetup())
