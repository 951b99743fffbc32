"""What the REST tests share: an embedded configuration (SQLite index,
rs-file storage and incoming, file coordination, basic auth) under one
directory, and its index and stores set up as `gnocchi-rs upgrade` would."""
import os


def embedded_conf(directory, indexer_url=None):
    """The configuration; ``indexer_url`` in place of the SQLite file."""
    from gnocchi import service
    from oslo_config import cfg

    path = os.path.join(directory, "gnocchi.conf")
    with open(path, "w") as f:
        f.write("[DEFAULT]\ncoordination_url = file://{d}/coordination\n"
                "[api]\nauth_mode = basic\n"
                "[indexer]\nurl = {u}\n"
                "[storage]\ndriver = rs-file\nfile_basepath = {d}/storage\n"
                "[incoming]\ndriver = rs-file\n"
                "file_basepath = {d}/storage\n".format(
                    d=directory,
                    u=indexer_url or "sqlite:///%s/index.sqlite" % directory))
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


def side_by_side(directory, archive_policies, resource, metrics, processed,
                 pending, more_resources=()):
    """(upstream's app with upstream's ``file`` drivers, gnocchi-rs' app
    with ``rs-file``) as webtest apps over one directory: the generic
    resource ``resource`` (its original id), ``metrics`` [(id, archive
    policy, name)] of it, ``more_resources`` [(original id, {attribute:
    value}, metrics)] likewise, ``processed`` {id: measures} written and
    processed, ``pending`` {id: measures} written only."""
    from gnocchi import chef
    from gnocchi import incoming
    from gnocchi import storage
    from gnocchi import utils
    from gnocchi.rest import app as upstream_app
    from tooz import coordination
    import webtest

    import gnocchi_rs.rest as rs_rest
    from gnocchi_rs.rest import app as rs_app

    ours = embedded_conf(directory)
    index = set_up(ours, archive_policies)
    for original_id, attributes, its_metrics in (
            [(resource, {}, metrics)] + list(more_resources)):
        rid = utils.ResourceUUID(original_id, "admin")
        index.create_resource("generic", rid, "admin",
                              original_resource_id=original_id,
                              **attributes)
        for metric_id, policy, name in its_metrics:
            index.create_metric(metric_id, "admin",
                                archive_policy_name=policy, name=name,
                                resource_id=rid)
    inc = incoming.get_driver(ours)
    for metric_id, measures in processed.items():
        inc.add_measures(metric_id, measures)
    coord = coordination.get_coordinator(ours.coordination_url, b"t")
    coord.start(start_heart=True)
    chef.Chef(coord, inc, index, storage.get_driver(ours)).refresh_metrics(
        index.list_metrics(attribute_filter={"in": {"id": list(processed)}},
                           details=True), timeout=60, sync=True)
    coord.stop()
    for metric_id, measures in pending.items():
        inc.add_measures(metric_id, measures)
    index.disconnect()

    upstream = embedded_conf(directory)
    upstream.set_override("driver", "file", "storage")
    upstream.set_override("driver", "file", "incoming")
    return (webtest.TestApp(rs_rest.wrap(upstream_app.load_app(upstream))),
            webtest.TestApp(rs_app.load_app(ours)))
