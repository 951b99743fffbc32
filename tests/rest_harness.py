"""What the REST tests share: an embedded configuration (SQLite index,
rs-file storage and incoming, file coordination, basic auth) under one
directory, and its index and stores set up as `gnocchi-rs upgrade` would."""
import os


def embedded_conf(directory):
    from gnocchi import service
    from oslo_config import cfg

    path = os.path.join(directory, "gnocchi.conf")
    with open(path, "w") as f:
        f.write("[DEFAULT]\ncoordination_url = file://{d}/coordination\n"
                "[api]\nauth_mode = basic\n"
                "[indexer]\nurl = sqlite:///{d}/index.sqlite\n"
                "[storage]\ndriver = rs-file\nfile_basepath = {d}/storage\n"
                "[incoming]\ndriver = rs-file\n"
                "file_basepath = {d}/storage\n".format(d=directory))
    return service.prepare_service(args=["--config-file", path],
                                   conf=cfg.ConfigOpts(), skip_log_opts=True)


def set_up(conf, archive_policies=()):
    """Index, storage and 8 sacks made, upstream's default archive
    policies and ``archive_policies`` created, the processing group
    there; returns the indexer (the caller disconnects it)."""
    from gnocchi import archive_policy
    from gnocchi import incoming
    from gnocchi import indexer
    from gnocchi import storage
    from tooz import coordination

    index = indexer.get_driver(conf)
    index.upgrade()
    storage.get_driver(conf).upgrade()
    incoming.get_driver(conf).upgrade(8)
    for policy in (list(archive_policy.DEFAULT_ARCHIVE_POLICIES.values())
                   + list(archive_policies)):
        index.create_archive_policy(policy)
    coord = coordination.get_coordinator(conf.coordination_url, b"test")
    coord.start()
    coord.create_group(b"gnocchi-processing").get()
    coord.stop()
    return index
