"""gnocchi_rs.rest.front: requests of the native routes without an
Origin or forwarding header skip upstream's HTTPProxyToWSGI and CORS
layers, with the same answer as through them; the others go through."""
from __future__ import annotations

import base64
import json
import uuid

import pytest
import webtest

import rest_harness
from gnocchi_rs.rest import app as rs_app
from gnocchi_rs.rest import front

AUTH = {"Authorization": "basic " + base64.b64encode(b"admin:").decode(),
        "Content-Type": "application/json"}
ORIGIN = "http://dashboard.example"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from oslo_middleware import cors

    conf = rest_harness.embedded_conf(str(tmp_path_factory.mktemp("front")))
    conf.register_opts(cors.CORS_OPTS, "cors")
    conf.set_override("allowed_origin", [ORIGIN], "cors")
    index = rest_harness.set_up(conf)
    metric = uuid.uuid4()
    index.create_metric(metric, "admin", "low")
    index.disconnect()
    application = rs_app.load_app(conf)
    assert isinstance(application, front.NativeFront)
    return application, metric


def _calls(monkeypatch, application):
    """Counts the requests that go through upstream's outer layers."""
    through = []
    outer = application.application

    def counted(environ, start_response):
        through.append(environ["PATH_INFO"])
        return outer(environ, start_response)
    monkeypatch.setattr(application, "application", counted)
    return through


def _answer(response):
    return (response.status, sorted(response.headerlist), response.body)


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/v1/metric/{m}/measures",
     [{"timestamp": "2026-01-01T00:00:00", "value": 1}]),
    ("POST", "/v1/metric/%s/measures" % uuid.uuid4(),       # unknown: 404
     [{"timestamp": "2026-01-01T00:00:00", "value": 1}]),
    ("POST", "/v1/metric/{m}/measures", {"not": "a list"}),  # 400
    ("POST", "/v1/batch/metrics/measures",
     {"{m}": [{"timestamp": "2026-01-01T00:00:01", "value": 2}]}),
    ("GET", "/v1/metric/{m}/measures", None),
    ("GET", "/v1/metric/{m}/measures?aggregation=nope", None),  # 400
])
def test_the_shortcut_answers_as_the_full_stack(app, monkeypatch, method,
                                               path, body):
    application, metric = app
    path = path.format(m=metric)
    if body is not None:
        body = json.dumps(body).replace("{m}", str(metric)).encode()
    test_app = webtest.TestApp(application)
    full = webtest.TestApp(application.application)
    through = _calls(monkeypatch, application)
    send = test_app.post if method == "POST" else test_app.get
    send_full = full.post if method == "POST" else full.get
    kwargs = {"headers": AUTH, "expect_errors": True}
    if body is not None:
        kwargs["params"] = body
    ours, theirs = send(path, **kwargs), send_full(path, **kwargs)
    assert through == []
    assert _answer(ours) == _answer(theirs)


@pytest.mark.parametrize("header", [
    {"Origin": ORIGIN}, {"X-Forwarded-Proto": "https"},
    {"Forwarded": "proto=https"}, {"X-Forwarded-Prefix": "/metric"}])
def test_cross_origin_and_forwarded_requests_go_through(app, monkeypatch,
                                                       header):
    application, metric = app
    through = _calls(monkeypatch, application)
    response = webtest.TestApp(application).get(
        "/v1/metric/%s/measures" % metric, headers=dict(AUTH, **header))
    assert response.status_int == 200
    assert len(through) == 1
    if "Origin" in header:
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_other_routes_go_through(app, monkeypatch):
    application, metric = app
    through = _calls(monkeypatch, application)
    test_app = webtest.TestApp(application)
    test_app.get("/v1/metric/%s" % metric, headers=AUTH)
    test_app.get("/", headers=AUTH)
    test_app.put("/v1/metric/%s/measures" % metric, b"[]", headers=AUTH,
                 expect_errors=True)
    assert len(through) == 3


def test_accept_headers_answered_without_parsing_are_webobs():
    import webob.acceptparse

    from gnocchi_rs.rest import routing

    for accept in routing._TAKES_JSON:
        assert webob.acceptparse.create_accept_header(
            accept).acceptable_offers(["application/json"])
    assert routing.takes_json({})
    assert not routing.takes_json({"HTTP_ACCEPT": "text/html"})
    assert routing.takes_json({"HTTP_ACCEPT": "text/html;q=0.5, */*"})
