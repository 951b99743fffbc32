"""``gnocchi-rs upgrade``: what ``gnocchi-upgrade`` does, and the metricd
group upstream's /v1/status needs."""

import logging

from gnocchi import archive_policy
from gnocchi import incoming
from gnocchi import indexer
from gnocchi import storage
from tooz import coordination

from gnocchi_rs import sacks
from gnocchi_rs.cli import DEFAULT_SACKS
from gnocchi_rs.cli import gnocchi_conf


def upgrade_all(conf, sacks_number=DEFAULT_SACKS, skip_index=False,
                skip_storage=False, skip_incoming=False,
                skip_archive_policies=False):
    """``gnocchi-upgrade``: indexer schema, storage, incoming sacks (their
    number is only set when none exists yet), default archive policies
    when there are none."""
    log = logging.getLogger("gnocchi.rs.upgrade")
    index = indexer.get_driver(conf)
    if not skip_index:
        log.info("Upgrading indexer %s", index)
        index.upgrade()
    if not skip_storage:
        store = storage.get_driver(conf)
        log.info("Upgrading storage %s", store)
        store.upgrade()
    if not skip_incoming:
        inbox = incoming.get_driver(conf)
        log.info("Upgrading incoming storage %s", inbox)
        inbox.upgrade(sacks_number)
    _create_processing_group(conf, log)
    if (not skip_archive_policies and not index.list_archive_policies()
            and not index.list_archive_policy_rules()):
        for policy in archive_policy.DEFAULT_ARCHIVE_POLICIES.values():
            index.create_archive_policy(policy)
        index.create_archive_policy_rule("default", "*", "low")


def _create_processing_group(conf, log):
    """Creates metricd's tooz group, as a first metricd worker would:
    upstream's /v1/status fails (500) while it does not exist."""
    if not conf.coordination_url:
        return
    coord = coordination.get_coordinator(conf.coordination_url,
                                         b"gnocchi-rs-upgrade")
    coord.start()
    try:
        coord.create_group(sacks.GROUP_ID).get()
        log.info("Created the metricd group")
    except coordination.GroupAlreadyExist:
        pass
    finally:
        coord.stop()


def run(args):
    conf = gnocchi_conf.load_conf(args, log_to_std=True)
    upgrade_all(conf, args.sacks_number, args.skip_index, args.skip_storage,
                args.skip_incoming, args.skip_archive_policies_creation)
    return 0
