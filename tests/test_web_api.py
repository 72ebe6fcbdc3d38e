"""The JSON API: the OpenAPI document matches the routes, one error shape everywhere, input validation."""

from __future__ import annotations

import re

import pytest

from tests.web_fixtures import *  # noqa: F403
from tests.web_fixtures import bearer

API = "/api/v1"


def _rule_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def test_openapi_documents_every_api_route_and_nothing_else(app):
    doc = app.test_client().get(f"{API}/openapi.json").get_json()
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routed = {(_rule_path(r.rule), m) for r in app.url_map.iter_rules() if r.rule.startswith(API + "/")
              for m in r.methods - {"HEAD", "OPTIONS"}}
    assert routed - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routed == set(), "documented paths that are not routes"
    assert len(routed) >= 30


def test_openapi_document_is_well_formed(app):
    doc = app.test_client().get(f"{API}/openapi.json").get_json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"]
    schemas = doc["components"]["schemas"]
    refs = re.findall(r'"\$ref": "#/components/(schemas|responses)/(\w+)"', str(doc).replace("'", '"'))
    for kind, name in refs:
        assert name in doc["components"][kind], name
    ids = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            assert op["operationId"] not in ids
            ids.add(op["operationId"])
            assert op["summary"] and op["responses"]
            assert "default" in op["responses"]
            assert op.get("security") == [] or op["x-roles"], (path, method)
            for p in op.get("parameters", []):
                if p["in"] == "path":
                    assert "{" + p["name"] + "}" in path
            for name in re.findall(r"{(\w+)}", path):
                assert any(p["name"] == name and p["in"] == "path" for p in op["parameters"]), (path, name)
    assert schemas["Error"]["properties"]["error"]["required"] == ["code", "message"]


def test_openapi_roles_match_what_the_routes_enforce(app, clients):
    doc = app.test_client().get(f"{API}/openapi.json").get_json()
    put = doc["paths"][f"{API}/sops/{{doc_id}}"]["put"]
    assert set(put["x-roles"]) == {"manager", "admin"}
    assert clients["agent"].api("PUT", f"{API}/sops/sop-refunds", json={"title": "t", "body": "b",
                                                                        "base_version": 1}).status_code == 403
    search = doc["paths"][f"{API}/search"]["get"]
    assert {p["name"] for p in search["parameters"]} == {"q", "k", "mode", "type", "tag", "status", "log"}
    assert next(p for p in search["parameters"] if p["name"] == "q")["required"] is True


def _assert_error_shape(resp, status, code=None):
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert resp.is_json
    body = resp.get_json()
    assert set(body) == {"error"}
    err = body["error"]
    assert set(err) <= {"code", "message", "hint", "field"} and {"code", "message"} <= set(err)
    assert all(isinstance(v, str) and v for v in err.values())
    if code:
        assert err["code"] == code, err
    return err


def test_one_json_error_shape_for_every_kind_of_error(app, clients, tokens):
    anon = app.test_client()
    a = clients["agent"]
    _assert_error_shape(anon.get(f"{API}/search?q=x"), 401, "unauthorized")
    _assert_error_shape(a.get(f"{API}/nope"), 404, "not_found")
    _assert_error_shape(a.api("DELETE", f"{API}/search"), 405, "method_not_allowed")
    _assert_error_shape(a.get(f"{API}/search?q="), 400, "invalid_input")
    _assert_error_shape(a.get(f"{API}/search?q=x&k=zero"), 400, "invalid_input")
    _assert_error_shape(a.get(f"{API}/search?q=x&mode=psychic"), 400, "invalid_input")
    _assert_error_shape(a.get(f"{API}/documents/no-such-doc"), 404, "not_found")
    _assert_error_shape(a.client.post(f"{API}/answer", json={"question": "x"}), 400, "csrf_failed")
    _assert_error_shape(a.api("POST", f"{API}/answer", data="not json", content_type="text/plain"), 400,
                        "invalid_input")
    err = _assert_error_shape(a.api("POST", f"{API}/answer", json={"question": 5}), 400, "invalid_input")
    assert err["field"] == "question"
    err = _assert_error_shape(a.api("POST", f"{API}/answer", json={}), 400, "invalid_input")
    assert err["field"] == "question"
    _assert_error_shape(a.api("PUT", f"{API}/sops/sop-refunds", json={"title": "t", "body": "b", "base_version": 1}),
                        403, "forbidden")
    _assert_error_shape(anon.get(f"{API}/me", headers=bearer("dbk_forged")), 401, "unauthorized")
    m = clients["manager"]
    cur = m.get(f"{API}/documents/sop-returns").get_json()["version"]
    _assert_error_shape(m.api("PUT", f"{API}/sops/sop-returns", json={"title": "t", "body": "b",
                                                                      "base_version": cur - 1}), 409, "conflict")
    _assert_error_shape(a.get(f"{API}/assist/conversations/never-started"), 404, "not_found")


def test_server_errors_use_the_same_shape(app, clients, monkeypatch):
    svc = app.extensions["deskbook"]

    def boom(*a, **kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(svc.store, "all_tags", boom)
    err = _assert_error_shape(clients["agent"].get(f"{API}/tags"), 500, "internal_error")
    assert "disk on fire" not in err["message"]  # internals are logged, not shown


def test_pages_get_friendly_errors_not_json(clients):
    r = clients["agent"].get("/doc/no-such-doc")
    assert r.status_code == 404 and r.mimetype == "text/html" and "No document with id" in r.get_data(as_text=True)
    r = clients["agent"].get("/manager/sops")
    assert r.status_code == 403 and r.mimetype == "text/html"


def test_me_and_tags(clients, tokens, app):
    me = app.test_client().get(f"{API}/me", headers=bearer(tokens["manager"])).get_json()
    assert me["username"] == "manager" and me["role"] == "manager" and "password_hash" not in me
    tags = clients["agent"].get(f"{API}/tags").get_json()
    assert tags[0]["count"] >= tags[-1]["count"] and any(t["tag"] == "refunds" for t in tags)


@pytest.mark.parametrize("body,field", [({"id": "bad id", "title": "t", "body": "b"}, "id"),
                                        ({"id": "sop-ok", "title": "", "body": "b"}, "title"),
                                        ({"id": "sop-ok", "title": "t", "body": "b", "status": "live"}, "status"),
                                        ({"id": "sop-ok", "title": "t", "body": "b", "review_by": "soon"}, "review_by"),
                                        ({"id": "sop-ok", "title": "t", "body": "b", "tags": "a,b"}, "tags")])
def test_sop_write_validation_names_the_field(clients, body, field):
    err = _assert_error_shape(clients["manager"].api("POST", f"{API}/sops", json=body), 400)
    assert err["field"] == field


def test_documents_list_and_versions(clients):
    m = clients["manager"]
    sops = m.get(f"{API}/documents").get_json()
    assert all(d["type"] == "sop" for d in sops) and len(sops) >= 12
    tickets = m.get(f"{API}/documents?type=ticket").get_json()
    assert len(tickets) == 40
    versions = m.get(f"{API}/sops/sop-refunds/versions").get_json()
    assert versions[-1]["created_by"] == "indexer"
    v = m.get(f"{API}/sops/sop-refunds/versions/{versions[-1]['version']}").get_json()
    assert v["title"] == "Refund processing"


def test_search_filters_by_status(clients):
    a = clients["agent"]
    published = a.get("/api/v1/search?q=refund&status=published&log=false").get_json()["results"]
    assert published and {r["status"] for r in published if r["type"] == "sop"} == {"published"}
    assert any(r["type"] == "ticket" for r in published)  # past tickets are searched whatever the SOP status
    archived = a.get("/api/v1/search?q=refund&status=archived&type=sop&log=false").get_json()["results"]
    assert archived == []
    bad = a.get("/api/v1/search?q=refund&status=live&log=false")
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "status"
