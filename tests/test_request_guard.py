"""gnocchi_rs.rest.wrap on upstream's WSGI application (gnocchi.rest.app.
load_app, SQLite indexer, rs-file): request bodies too large, not UTF-8 or
nested too deep are refused before upstream decodes them, and measures with
timestamps outside datetime64[ns]'s range get a 400 instead of a 202
(issue 19, defects 6 and 7)."""
from __future__ import annotations

import base64
import io
import json
import logging

import hypothesis
import hypothesis.strategies as st
import uuid

import pytest
import webob
import webtest

import gnocchi_rs.rest as rs_rest
import rest_harness
from gnocchi_rs import _native
from gnocchi_rs.rest import guard

AUTH = "Basic " + base64.b64encode(b"admin:").decode()
JSON = {"Authorization": AUTH, "Content-Type": "application/json"}
JSON_ACCEPT = dict(JSON, Accept="application/json")


def _upgrade(conf):
    from gnocchi import archive_policy
    rest_harness.set_up(conf, [archive_policy.ArchivePolicy(
        "seconds", 0, [{"granularity": 1, "points": 100_000}],
        ["mean"])]).disconnect()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """Upstream's app as `gnocchi-rs api` serves it: load_app + wrap."""
    from gnocchi.rest import api as upstream_api
    from gnocchi.rest import app

    utils_before = upstream_api.utils
    conf = rest_harness.embedded_conf(str(tmp_path_factory.mktemp("guard")))
    _upgrade(conf)
    yield webtest.TestApp(rs_rest.wrap(app.load_app(conf)))
    upstream_api.utils = utils_before        # other modules get upstream's


@pytest.fixture(scope="module")
def metric(api):
    return api.post_json("/v1/metric", {"archive_policy_name": "seconds"},
                         headers={"Authorization": AUTH}).json["id"]


def _post(api, path, body, headers=JSON_ACCEPT):
    return api.post(path, body, headers=headers, expect_errors=True)


def _decode_error(response, status=400):
    assert response.status_int == status, response.body[:300]
    assert response.content_type == "application/json"
    body = response.json
    assert body["code"] == status
    assert body["title"] == response.status.split(" ", 1)[1]
    description = body["description"]
    assert description["cause"] == "Unable to decode body"
    assert description["detail"] == []
    return description["reason"]


def _errors_and_warnings(caplog):
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    return errors, warnings


# -- the body guard, on upstream's app ---------------------------------------

def test_malformed_json_keeps_upstreams_answer(api, caplog):
    # The shape every refusal copies: upstream's own answer, untouched.
    caplog.set_level(logging.WARNING)
    response = _post(api, "/v1/metric", b'{"archive_policy_name": "low"')
    reason = _decode_error(response)
    assert reason == "Unexpected character in found when decoding object value"
    errors, warnings = _errors_and_warnings(caplog)
    assert not errors and len(warnings) == 1


def test_deep_body_is_a_400_without_error_log(api, caplog):
    caplog.set_level(logging.WARNING)
    body = b"[" * 100_000 + b"]" * 100_000
    reason = _decode_error(_post(api, "/v1/metric", body))
    assert reason == "JSON nested deeper than 64 levels"
    errors, warnings = _errors_and_warnings(caplog)
    assert not errors and len(warnings) == 1
    # Unclosed, and in an object: the same.
    _decode_error(_post(api, "/v1/metric", b'{"a": ' * 100_000))


def test_non_utf8_body_is_a_400_without_error_log(api, caplog):
    caplog.set_level(logging.WARNING)
    response = _post(api, "/v1/metric", b'{"archive_policy_name": "l\xffw"}')
    reason = _decode_error(response)
    assert reason == ("'utf-8' codec can't decode byte 0xff in position 26:"
                      " invalid start byte")
    errors, warnings = _errors_and_warnings(caplog)
    assert not errors and len(warnings) == 1


def test_garbage_is_a_400_without_error_log(api, caplog):
    caplog.set_level(logging.WARNING)
    garbage = bytes(range(256)) * 64
    for path in ("/v1/metric", "/v1/batch/metrics/measures",
                 "/v1/search/resource/generic"):
        caplog.clear()
        _decode_error(_post(api, path, garbage))
        errors, warnings = _errors_and_warnings(caplog)
        assert not errors and len(warnings) == 1, caplog.records


def test_json_patch_and_javascript_bodies_are_guarded(api, caplog):
    # Upstream's deserialize reads application/json-patch+json (resource
    # type PATCH), Pecan reads application/javascript.
    caplog.set_level(logging.WARNING)
    deep = b"[" * 5000 + b"]" * 5000
    for content_type in ("application/json-patch+json",
                         "application/javascript",
                         "application/json; charset=UTF-8"):
        headers = dict(JSON_ACCEPT, **{"Content-Type": content_type})
        response = api.patch("/v1/resource_type/nothing", deep,
                             headers=headers, expect_errors=True)
        _decode_error(response)
    assert not _errors_and_warnings(caplog)[0]


def test_error_format_follows_accept_as_upstream(api):
    """Accept: JSON as Pecan renders it; else webob's text or HTML page,
    the same as upstream's for a malformed body. (With Accept: text/html
    alone upstream answers 406 before reading the body; the guard, which
    comes first, answers its 400 in HTML.)"""
    deep = b"[" * 1000
    upstream = b'{"archive_policy_name": "low"'
    for accept, content_type in ((None, "text/plain"),
                                 ("*/*", "text/html"),
                                 ("application/json", "application/json")):
        headers = dict(JSON)
        if accept:
            headers["Accept"] = accept
        ours = _post(api, "/v1/metric", deep, headers)
        theirs = _post(api, "/v1/metric", upstream, headers)
        assert ours.status_int == theirs.status_int == 400
        assert ours.content_type == theirs.content_type == content_type
        if content_type == "text/plain":
            text = ("400 Bad Request\n\nThe server could not comply with the"
                    " request since it is either malformed or otherwise "
                    "incorrect.\n\n {'cause': 'Unable to decode body', "
                    "'reason': '%s', 'detail': }  ")
            assert ours.text == text % "JSON nested deeper than 64 levels"
            assert theirs.text == text % (
                "Unexpected character in found when decoding object value")


def test_oversize_body_is_a_413(tmp_path_factory):
    """413: HTTP's status for it, what a proxy in front answers, and it
    tells the client that a smaller batch would do."""
    from gnocchi.rest import app

    conf = rest_harness.embedded_conf(str(tmp_path_factory.mktemp("guard-small")))
    _upgrade(conf)
    small = webtest.TestApp(rs_rest.wrap(app.load_app(conf),
                                         max_body_size=1000))
    body = json.dumps({"archive_policy_name": "low", "name": "x" * 1000})
    response = small.post("/v1/metric", body, headers=JSON_ACCEPT,
                          expect_errors=True)
    reason = _decode_error(response, 413)
    assert reason == ("Request body of %d bytes exceeds the limit of 1000 "
                      "bytes" % len(body))
    # Not only JSON: every body.
    response = small.post("/v1/metric", b"x" * 1001, headers={
        "Authorization": AUTH, "Content-Type": "application/x-protobuf",
        "Accept": "application/json"}, expect_errors=True)
    _decode_error(response, 413)
    ok = small.post_json("/v1/metric", {"archive_policy_name": "low"},
                         headers={"Authorization": AUTH})
    assert ok.status_int == 201


def test_depth_limit_keeps_what_upstream_serves(api, metric):
    """64 levels: a search filter and an aggregates operation that deep
    still get upstream's answers."""
    query = {"=": {"id": str(uuid.uuid4())}}        # 2 levels
    for _ in range(31):                             # 2 levels each
        query = {"and": [query]}
    assert guard.nesting_exceeds(json.dumps(query).encode(), 63)
    response = _post(api, "/v1/search/resource/generic",
                     json.dumps(query).encode())
    assert response.status_int == 200 and response.json == []
    operation = ["metric", metric, "mean"]          # 1 level
    for _ in range(62):                             # 1 level each
        operation = ["abs", operation]
    body = json.dumps({"operations": operation}).encode()   # 64 levels
    assert not guard.nesting_exceeds(body, 64)
    assert guard.nesting_exceeds(body, 63)
    response = _post(api, "/v1/aggregates", body)
    assert response.status_int == 200, response.body[:300]
    response = _post(api, "/v1/aggregates", json.dumps(
        {"operations": ["abs", operation]}).encode())
    assert _decode_error(response) == "JSON nested deeper than 64 levels"


# -- measure timestamps ------------------------------------------------------

def _invalid_measures(response):
    assert response.status_int == 400, response.body[:300]
    description = response.json["description"]
    assert description["cause"] == "Invalid input"
    return description


@pytest.mark.parametrize("timestamp, shown", [
    (1e20, "1e+20"),                    # NaT after the cast
    (9.3e9, "9300000000.0"),            # 2264: NaT too
    ("NaN", "NaN"),
    ("2846-07-21", "2846-07-21"),       # wraps to 2261-12-31, in range
    ("3000-01-01T00:00:00", "3000-01-01T00:00:00"),  # wraps before Epoch
    ("+300000 days", "+300000 days"),   # upstream: OverflowError, a 500
])
def test_out_of_range_timestamp_is_a_400_naming_it(api, metric, timestamp,
                                                   shown):
    response = _post(api, "/v1/metric/%s/measures" % metric, json.dumps(
        [{"timestamp": timestamp, "value": 2}]).encode())
    description = _invalid_measures(response)
    assert description["reason"] == (
        "unexpected timestamp '%s: out of range, timestamps must be between "
        "1970-01-01T00:00:00 and 2262-04-11T23:47:16.854775807'" % shown)
    assert description["detail"] == []


def test_the_first_out_of_range_timestamp_is_named(api, metric):
    response = _post(api, "/v1/metric/%s/measures" % metric, json.dumps(
        [{"timestamp": 1790000000, "value": 1},
         {"timestamp": 1e19, "value": 2},
         {"timestamp": 1e20, "value": 3}]).encode())
    assert _invalid_measures(response)["reason"].startswith(
        "unexpected timestamp '1e+19: out of range")


def test_out_of_range_timestamp_in_batches(api, metric):
    response = _post(api, "/v1/batch/metrics/measures", json.dumps(
        {metric: [{"timestamp": 1e20, "value": 1}]}).encode())
    description = _invalid_measures(response)
    assert "'1e+20: out of range" in description["reason"]
    assert description["detail"] == [metric]
    resource = str(uuid.uuid4())
    created = api.post_json("/v1/resource/generic", {
        "id": resource, "metrics": {"cpu": {"archive_policy_name": "low"}}},
        headers={"Authorization": AUTH})
    assert created.status_int == 201
    response = _post(api, "/v1/batch/resources/metrics/measures", json.dumps(
        {resource: {"cpu": [{"timestamp": 1e20, "value": 1}]}}).encode())
    description = _invalid_measures(response)
    assert "'1e+20: out of range" in description["reason"]


def test_in_range_timestamps_keep_upstreams_answers(api, metric):
    path = "/v1/metric/%s/measures" % metric
    description = _invalid_measures(_post(api, path, json.dumps(
        [{"timestamp": "1960-01-01T00:00:00", "value": 1}]).encode()))
    assert description["reason"] == (
        "unexpected timestamp 'Timestamp must be after Epoch'")
    description = _invalid_measures(_post(api, path, json.dumps(
        [{"timestamp": "yesterday-ish", "value": 1}]).encode()))
    assert description["reason"] == (
        "unexpected timestamp 'Unable to convert timestamps'")
    for timestamp in ("-5 minutes", "2262-04-11T23:47:16", 9.2e9):
        response = _post(api, path, json.dumps(
            [{"timestamp": timestamp, "value": 1}]).encode())
        assert response.status_int == 202, (timestamp, response.body)


def test_normal_batch_is_accepted_and_stored(api):
    """A batch of about 270 KB: 202, and every measure is there after
    upstream's refresh (which processes them)."""
    metrics = [api.post_json("/v1/metric", {"archive_policy_name": "seconds"},
                             headers={"Authorization": AUTH}).json["id"]
               for _ in range(5)]
    start = 1_790_000_000
    batch = {m: [{"timestamp": start + i, "value": float(i % 7)}
                 for i in range(1400)] for m in metrics}
    body = json.dumps(batch).encode()
    assert 200_000 < len(body) < 300_000
    response = _post(api, "/v1/batch/metrics/measures", body)
    assert response.status_int == 202, response.body[:300]
    for m in metrics:
        points = api.get("/v1/metric/%s/measures?refresh=true" % m,
                         headers={"Authorization": AUTH}).json
        assert len(points) == 1400
        assert points[0][2] == 0.0 and points[-1][2] == float(1399 % 7)


# -- the guard alone ---------------------------------------------------------

def _echo(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return [body]


def test_bodies_that_pass_are_untouched():
    app = guard.BodyGuard(_echo, max_body_size=1 << 20)
    for body, content_type in (
            (b'{"a": ["[[[", "\\"]]]", "\\\\"], "b": {}}', "application/json"),
            ("{\"é\": \"\u2603\"}".encode(), "application/json"),
            (b"\xff\x00 not json", "application/x-protobuf"),
            (b"", "application/json")):
        request = webob.Request.blank("/", method="POST", body=body,
                                      content_type=content_type)
        response = request.get_response(app)
        assert response.status_int == 200 and response.body == body


def test_chunked_bodies():
    """No Content-Length: read up to one byte past the limit; what passes
    reaches the app with a Content-Length."""
    app = guard.BodyGuard(_echo, max_body_size=100)

    def chunked(body, content_type="application/json"):
        environ = webob.Request.blank("/", method="POST").environ
        environ.update({"wsgi.input": io.BytesIO(body),
                        "HTTP_TRANSFER_ENCODING": "chunked",
                        "CONTENT_TYPE": content_type,
                        "HTTP_ACCEPT": "application/json"})
        environ.pop("CONTENT_LENGTH", None)
        return webob.Request(environ).get_response(app)

    response = chunked(b'{"a": 1}')
    assert response.status_int == 200 and response.body == b'{"a": 1}'
    response = chunked(b"[" + b"1," * 100 + b"1]")
    assert response.status_int == 413
    assert response.json["description"]["reason"] == (
        "Request body exceeds the limit of 100 bytes")
    assert chunked(b"x" * 101, "text/plain").status_int == 413


def test_max_body_size_from_the_environment(monkeypatch):
    monkeypatch.setenv("GNOCCHI_RS_MAX_BODY_SIZE", "10")
    assert guard.BodyGuard(_echo).max_body_size == 10
    monkeypatch.setenv("GNOCCHI_RS_MAX_BODY_SIZE", "0")
    assert guard.BodyGuard(_echo).max_body_size is None
    monkeypatch.delenv("GNOCCHI_RS_MAX_BODY_SIZE")
    assert guard.BodyGuard(_echo).max_body_size == 64 * 1024 * 1024


@pytest.mark.parametrize("body, depth", [
    (b"1", 0), (b"[]", 1), (b'{"a": [{}]}', 3), (b'"[[[["', 0),
    (b'["\\"[[", "\\\\", [[]]]', 3), (b'["\\\\\\"[["]', 1),
    (b"[" * 70, 70), (b"[1]" * 500, 1), (b'{"a": "}}}}"}' * 3, 1),
])
def test_nesting_scan(body, depth):
    assert not guard.nesting_exceeds(body, depth)
    if depth:
        assert guard.nesting_exceeds(body, depth - 1)


_KEEP_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')


def _reference_nesting(body):
    """The deepest level of the scan as the guard computed it in Python
    (escaped backslashes and quotes dropped, every byte but brackets and
    quotes deleted, levels as a running sum of brackets outside strings):
    the oracle of the native scan."""
    body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    deepest = level = 0
    in_string = False
    for byte in body.translate(None, _KEEP_STRUCTURE):
        if byte == ord('"'):
            in_string = not in_string
        elif not in_string:
            level += 1 if byte in b"[{" else -1
            deepest = max(deepest, level)
    return deepest


def _json_depth(value):
    if isinstance(value, dict):
        return 1 + max(map(_json_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_json_depth, value), default=0)
    return 0


@hypothesis.settings(max_examples=400, deadline=None)
@hypothesis.given(st.lists(st.sampled_from(
    [b"[", b"]", b"{", b"}", b'"', b"\\", b"a", b",", b":", b"1",
     "\u00e9".encode()]), max_size=60).map(b"".join))
def test_nesting_scan_equals_the_reference_on_any_bytes(body):
    deepest = _reference_nesting(body)
    assert not guard.nesting_exceeds(body, deepest)
    if deepest:
        assert guard.nesting_exceeds(body, deepest - 1)


_JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) |
    st.text(alphabet='[]{}"\\ab\u00e9\n', max_size=8),
    lambda children: st.lists(children, max_size=3) |
    st.dictionaries(st.text(alphabet='[]{}"\\ab', max_size=4), children,
                    max_size=3),
    max_leaves=20)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(_JSON, st.booleans())
def test_nesting_scan_is_the_decoders_nesting_on_json(value, ascii_only):
    """On valid JSON the scan sees the nesting the decoders recurse
    into, strings with brackets, quotes and backslashes included."""
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    depth = _json_depth(value)
    assert not guard.nesting_exceeds(body, depth)
    if depth:
        assert guard.nesting_exceeds(body, depth - 1)


def test_utf8_check_is_the_decoders():
    for body in (b'{"a": "\xc3\xa9"}', b'["\xff"]', b'"\xed\xa0\x80"',
                 b'"\xf0\x9f\x98\x80"', b'"\xc3"'):
        try:
            body.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        assert _native.check_json_body(body, 64)[0] is valid
