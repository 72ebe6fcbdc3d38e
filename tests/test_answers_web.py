"""The agent screen and API for answers: published SOPs only unless asked, every hit with its status, warnings,
customer wording and the agent checklist, snippets without Markdown, the tag filter, one clear message for a
question too long to read, and confidence labels that agree with the threshold."""

from __future__ import annotations

import re

from tests.web_fixtures import *  # noqa: F403

DRAFT = ("# Umbrella loans\n\n## Procedure\n1. Check the store has a spare umbrella-pelican.\n"
         "   - Say: \"We can lend you an umbrella-pelican while you wait.\"\n2. Note the loan on the order.\n")


def _ids(client, q, extra=""):
    return [r["id"] for r in client.get(f"/api/v1/search?q={q}&log=false{extra}").get_json()["results"]]


def test_new_sops_are_drafts_agents_do_not_see_until_published(clients):
    m, agent = clients["manager"], clients["agent"]
    r = m.api("POST", "/api/v1/sops", json={"id": "sop-umbrella", "title": "Umbrella loans", "body": DRAFT,
                                            "review_by": "2020-01-01"})
    assert r.status_code == 201 and r.get_json()["status"] == "draft"
    assert "sop-umbrella" not in _ids(agent, "umbrella-pelican")
    ans = agent.api("POST", "/api/v1/answer", json={"question": "can the customer borrow an umbrella-pelican"}).get_json()
    assert all(s["id"] != "sop-umbrella" for s in ans["sources"]) and ans["statuses"] == ["published"]
    page = agent.get("/?q=umbrella-pelican").get_data(as_text=True)
    assert "Umbrella loans" not in page and 'id="status-filter"' not in page  # agents get no status choice
    # a manager sees the draft with its badge, and asks answers of it explicitly, with the warnings
    every = m.get("/api/v1/search?q=umbrella-pelican&status=all&log=false").get_json()["results"]
    assert every[0]["id"] == "sop-umbrella" and every[0]["status"] == "draft"
    page = m.get("/?q=umbrella-pelican&status=all").get_data(as_text=True)
    assert 'id="status-filter"' in page and 'badge badge-draft' in page
    asked = m.api("POST", "/api/v1/answer", json={"question": "can the customer borrow an umbrella-pelican",
                                                  "status": ["all"]}).get_json()
    assert asked["citations"][0]["id"] == "sop-umbrella" and asked["citations"][0]["status"] == "draft"
    assert any("draft" in w for w in asked["warnings"]) and any("due for review" in w for w in asked["warnings"])
    # published: agents find it at once, and the answer panel shows the overdue warning
    assert m.api("POST", "/api/v1/sops/sop-umbrella/publish").status_code == 200
    assert _ids(agent, "umbrella-pelican")[0] == "sop-umbrella"
    published = agent.api("POST", "/api/v1/answer", json={"question": "can the customer borrow an umbrella-pelican"})
    a = published.get_json()
    assert a["citations"][0]["id"] == "sop-umbrella" and any("due for review" in w for w in a["warnings"])
    assert a["say"] == ["We can lend you an umbrella-pelican while you wait."] and a["say_text"] == a["say"][0]
    assert [c["number"] for c in a["checklist"]][:1] == [1] and "Say:" not in a["checklist"][0]["text"]
    html = agent.get("/?q=can+the+customer+borrow+an+umbrella-pelican").get_data(as_text=True)
    assert 'class="answer-warnings"' in html and "due for review" in html
    assert 'data-copy="We can lend you an umbrella-pelican while you wait."' in html
    assert re.search(r'<li value="1" class="step">Check the store has a spare umbrella-pelican', html)


def test_every_hit_carries_its_status_and_bad_statuses_are_named(clients):
    results = clients["agent"].get("/api/v1/search?q=refund&log=false").get_json()["results"]
    assert results and all(r["status"] for r in results)
    assert {r["status"] for r in results if r["type"] == "sop"} == {"published"}
    bad = clients["agent"].api("POST", "/api/v1/answer", json={"question": "refund", "status": ["live"]})
    assert bad.status_code == 400 and "status" in bad.get_json()["error"]["field"]


def test_snippets_show_markdown_as_text(clients):
    data = clients["agent"].get("/api/v1/search?q=split+shipment+tracking+number+Shipments+panel&log=false").get_json()
    assert data["results"] and not any("**" in r["snippet"] or "__" in r["snippet"] for r in data["results"])
    page = clients["agent"].get("/?q=split+shipment+Shipments+panel").get_data(as_text=True)
    main = page[page.index('id="results"'):]
    assert "**" not in main


def test_tag_filter_offers_sop_tags_and_the_most_used_ticket_tags(app, clients):
    store = app.extensions["deskbook"].store
    sop_tags = {t.lower() for d in store.list_documents("sop") for t in d.tags}
    counts = dict(store.all_tags())
    page = clients["agent"].get("/").get_data(as_text=True)
    offered = re.findall(r'<option value="([^"]+)"', page[page.index('id="tag"'):page.index("</select>",
                                                                                         page.index('id="tag"'))])
    assert sop_tags <= set(offered)
    one_off = [t for t, n in counts.items() if n == 1 and t not in sop_tags]
    assert one_off and not set(one_off) & set(offered)
    assert all(t in sop_tags or counts[t] >= 3 for t in offered)


def test_a_question_too_long_to_read_gets_one_clear_message(clients):
    q = "my parcel never arrived " * 500  # 12,000 characters
    assert len(q.strip()) > 10_000
    page = clients["agent"].get("/?q=" + q.replace(" ", "+")).get_data(as_text=True)
    assert page.count("characters long") == 1 and "No confident answer" not in page
    assert 'class="result"' not in page
    r = clients["agent"].get("/api/v1/search?q=" + q.replace(" ", "+"))
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "q"
    r = clients["agent"].api("POST", "/api/v1/answer", json={"question": q})
    assert r.status_code == 400 and "characters long" in r.get_json()["error"]["message"]


def test_confidence_labels_agree_with_the_threshold(clients):
    for q in ("what is the capital of australia", "forgot my password", "the customer wants to cancel their order"):
        a = clients["agent"].api("POST", "/api/v1/answer", json={"question": q, "log": False}).get_json()
        shown = int(re.search(r"Confidence (\d+)%", a["confidence_label"]).group(1))
        if a["abstained"]:
            needed = int(re.search(r"below the (\d+)% needed", a["confidence_label"]).group(1))
            assert shown < needed
        else:
            assert shown >= int(a["threshold"] * 100 - 1e-9) and "below" not in a["confidence_label"]


def test_live_assist_answer_is_tentative_between_the_two_thresholds(app, clients):
    from webapp.agent import answer_dict

    with app.test_request_context():
        from kb.answers import Answer

        a = answer_dict(Answer("q", "x", 0.45, False), threshold=0.4)
        assert a["tentative"] and a["confidence_label"].startswith("Confidence 45%") and "check that it fits" in \
            a["confidence_label"]
        b = answer_dict(Answer("q", "", 0.549, True), threshold=0.55)
        assert b["confidence_label"] == "Confidence 54%, below the 55% needed for an answer"
