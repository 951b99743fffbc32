"""Upstream's line about each application it sets up: its configuration
dump (several KB of repr) at DEBUG, a short line at INFO."""
from __future__ import annotations

import logging

import pytest

import rest_harness


@pytest.fixture
def conf(tmp_path):
    from gnocchi_rs.rest import app  # noqa: F401 (installs the filter)
    return rest_harness.embedded_conf(str(tmp_path))


def _setup(conf):
    from gnocchi.rest import app as upstream_app
    upstream_app._setup_app("gnocchi.rest.api.VersionsController", conf,
                            False)


def _records(caplog):
    return [r for r in caplog.records if r.name == "gnocchi.rest.app"]


def test_info_line_is_short_and_names_the_files(conf, caplog):
    caplog.set_level(logging.INFO, logger="gnocchi.rest.app")
    _setup(conf)
    [record] = _records(caplog)
    assert record.levelno == logging.INFO
    message = record.getMessage()
    assert message.startswith("Application setup for context path "
                              "[gnocchi.rest.api.VersionsController]")
    assert "gnocchi.conf" in message
    assert "_opts" not in message and len(message) < 400


def test_the_dump_stays_at_debug(conf, caplog):
    caplog.set_level(logging.DEBUG, logger="gnocchi.rest.app")
    _setup(conf)
    [record] = _records(caplog)
    assert record.levelno == logging.DEBUG
    assert "_opts" in record.getMessage()


def test_gunicorn_lines_go_through_the_service_handlers(caplog):
    from gunicorn import config

    from gnocchi_rs.cli import api_gunicorn as api

    settings = config.Config()
    settings.set("logger_class", api.SharedLogger)
    logger = settings.logger_class(settings)
    assert not [h for h in logger.error_log.handlers
                if getattr(h, "_gunicorn", False)]
    caplog.set_level(logging.INFO)
    logger.info("Booting worker with pid: %s", 42)
    assert [r.getMessage() for r in caplog.records
            if r.name == "gunicorn.error"] == ["Booting worker with pid: 42"]


def test_a_gunicorn_errorlog_file_keeps_its_handler(tmp_path):
    from gunicorn import config

    from gnocchi_rs.cli import api_gunicorn as api

    settings = config.Config()
    settings.set("logger_class", api.SharedLogger)
    settings.set("errorlog", str(tmp_path / "gunicorn.log"))
    logger = settings.logger_class(settings)
    logger.info("to the file")
    for handler in logger.error_log.handlers:
        handler.flush()
    assert "to the file" in (tmp_path / "gunicorn.log").read_text()
