"""The outputs of a lean process: the metricd master's file (reopened
after logrotate, as daiquiri's), stderr, syslog and journald (through
daiquiri, loaded only for those)."""
from __future__ import annotations

import logging
import logging.handlers
import sys


def setup_logging(outputs):
    """``outputs``: a ``settings.Logging``."""
    formatter = logging.Formatter(
        "%(asctime)s [%(process)d] %(levelname)-8.8s %(name)s: %(message)s")
    root = logging.getLogger()
    root.setLevel(outputs.level)
    logging.getLogger("gnocchi").setLevel(outputs.gnocchi_level)
    handlers = []
    if outputs.file:
        handlers.append(logging.handlers.WatchedFileHandler(outputs.file))
    if outputs.stderr or (outputs.stderr is None and not handlers):
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    if outputs.syslog_facility or outputs.journal:
        import daiquiri.output
        if outputs.syslog_facility:
            daiquiri.output.Syslog(
                facility=outputs.syslog_facility).add_to_logger(root)
        if outputs.journal:
            daiquiri.output.Journal().add_to_logger(root)
