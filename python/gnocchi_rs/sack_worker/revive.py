"""Reviving a resource (``ended_at`` back to null) keeps its history, so
it goes through upstream's indexer, in a short-lived process of its own
so that the lean worker never loads it (a rare event: a resource that
ended gets measures)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid


def revive_resources(settings, resources):
    """``resources``: [(resource id, type)]. Raises when that fails: the
    sack's measures then stay for the next pass."""
    # On stdin: the URL may hold a password (argv is world-readable).
    request = json.dumps({"indexer_url": settings.indexer_url,
                          "config_args": list(settings.config_args),
                          "resources": resources})
    subprocess.run([sys.executable, "-m", "gnocchi_rs.sack_worker",
                    "--revive"], check=True, input=request.encode(),
                   timeout=300)


def revive_main(request):
    # The URL the worker used, even when no configuration file names it
    # (the option is required); set in this process only, after start.
    os.environ["GNOCCHI_INDEXER_URL"] = request["indexer_url"]
    from oslo_config import cfg
    from gnocchi import indexer, service
    conf = service.prepare_service(args=request["config_args"],
                                   conf=cfg.ConfigOpts(), log_to_std=True)
    conf.set_override("url", request["indexer_url"], "indexer")
    index = indexer.get_driver(conf)
    for resource_id, resource_type in request["resources"]:
        index.update_resource(resource_type, uuid.UUID(resource_id),
                              ended_at=None)
