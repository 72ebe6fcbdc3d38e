/* Deskbook: helpers shared by the pages (no framework, no build step).
 * Content from the server is put into the page as text (textContent), never as HTML, except
 * search snippets (only their <mark> tags are rebuilt) and the SOP preview (sanitised by the
 * server with the same function that renders SOPs). */
(function () {
  "use strict";

  /* The page's language: strings translated by the server (webapp/i18n.py JS_STRINGS, written by
   * base.html as JSON), keyed by their English; {name} placeholders are filled from `vars`. */
  var STRINGS = {};
  try { STRINGS = JSON.parse((document.getElementById("i18n") || {}).textContent || "{}"); } catch (e) { STRINGS = {}; }
  var LOCALE = document.documentElement.lang || "en";

  function t(text, vars) {
    var s = Object.prototype.hasOwnProperty.call(STRINGS, text) ? STRINGS[text] : text;
    if (vars) s = s.replace(/\{(\w+)\}/g, function (m, k) { return vars[k] === undefined ? m : String(vars[k]); });
    return s;
  }

  function number(n) { return Number(n).toLocaleString(LOCALE); }

  function csrfToken() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }

  async function api(url, options) {
    options = options || {};
    var method = options.method || "GET";
    var headers = { "Accept": "application/json", "X-Requested-With": "fetch" };
    var init = { method: method, headers: headers, credentials: "same-origin", signal: options.signal };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
    var resp = await fetch(url, init);
    var data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      var err = new Error((data && data.error && data.error.message) || resp.statusText);
      err.status = resp.status;
      err.data = data;
      throw err;
    }
    return data;
  }

  /* el("a", {href: "/x", class: "y"}, "text", childNode) */
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "class") node.className = v;
        else if (k === "text") node.textContent = v;
        else if (k.indexOf("data-") === 0 || k === "href" || k === "title" || k === "type" || k === "id" ||
                 k.indexOf("aria-") === 0 || k === "role" || k === "min" || k === "max" || k === "value" ||
                 k === "low" || k === "optimum") node.setAttribute(k, v);
        else node[k] = v;
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  function decodeEntities(s) {
    // An inert document: nothing in it runs or loads.
    return new DOMParser().parseFromString("<!doctype html><body>" + s, "text/html").body.textContent;
  }

  /* A snippet from the search API is escaped text with <mark> tags: rebuild only the marks. */
  function markedSnippet(snippet) {
    var frag = document.createDocumentFragment();
    var parts = String(snippet || "").split(/(<mark>|<\/mark>)/);
    var inMark = false;
    parts.forEach(function (p) {
      if (p === "<mark>") { inMark = true; return; }
      if (p === "</mark>") { inMark = false; return; }
      if (!p) return;
      var text = document.createTextNode(decodeEntities(p));
      if (inMark) { var m = document.createElement("mark"); m.appendChild(text); frag.appendChild(m); }
      else frag.appendChild(text);
    });
    return frag;
  }

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      try { await navigator.clipboard.writeText(text); return true; } catch (e) { /* fall back */ }
    }
    var ta = el("textarea", { "aria-hidden": "true" });
    ta.value = text;
    ta.className = "sr-only";
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    ta.remove();
    return ok;
  }

  function feedbackButtons(docId, withLabels) {
    return el("span", { class: "feedback", "data-doc-id": docId || "" },
      el("button", { type: "button", class: "fb", "data-helpful": "1", title: t("Helpful") }, withLabels ? t("✓ Helpful") : "✓"),
      el("button", { type: "button", class: "fb", "data-helpful": "0", title: t("Not helpful") }, withLabels ? t("✗ Not helpful") : "✗"));
  }

  /* The suggested-answer panel, built from the API's Answer object (the same as agent/_answer.html). */
  function renderAnswer(container, a) {
    container.textContent = "";
    container.setAttribute("data-query-id", a.query_id === null || a.query_id === undefined ? "" : a.query_id);
    if (a.abstained) {
      container.appendChild(el("p", { class: "abstain" }, el("strong", null, t("No confident answer."))));
      var sops = a.sources.filter(function (s) { return s.type === "sop"; });
      container.appendChild(el("p", { class: "muted small", id: "confidence-label" },
        a.confidence_label + ". " + (sops.length ? t("Closest procedures:") : t("Closest past tickets:"))));
      var ul = el("ul", { class: "sources" });
      (sops.length ? sops : a.sources).slice(0, 3).forEach(function (s) {
        ul.appendChild(el("li", null, el("a", { href: s.url }, s.title)));
      });
      container.appendChild(ul);
      container.appendChild(feedbackButtons("", true));
      return;
    }
    container.appendChild(el("div", { class: "confidence" },
      el("meter", { min: "0", max: "1", low: "0.5", optimum: "1", value: String(a.confidence) }),
      el("span", { id: "confidence-label" }, a.confidence_label)));
    if (a.warnings && a.warnings.length) {
      var wl = el("ul", { class: "answer-warnings", role: "note" });
      a.warnings.forEach(function (w) { wl.appendChild(el("li", null, w)); });
      container.appendChild(wl);
    }
    var fromTickets = a.citations && a.citations.length && a.citations[0].type === "ticket";
    var say = a.say || [];
    if (fromTickets) {  /* nothing to read out: the tickets are in Sources */
      container.appendChild(el("p", { class: "answer-from-tickets", id: "answer-from-tickets" },
        t("No procedure covers this yet: the answer rests on similar past tickets. Read how they were resolved (Sources) before answering.")));
    } else if (say.length) {
      container.appendChild(el("h3", null, t("Say to the customer")));
      var box = el("div", { class: "answer-say", id: "answer-say" });
      say.forEach(function (s) { box.appendChild(el("p", null, s)); });
      container.appendChild(box);
    } else {
      container.appendChild(el("h3", null, t("Say to the customer")));
      container.appendChild(el("p", { class: "muted small", id: "answer-say-none" },
        t("This part of the procedure has no wording to read out: explain it in your own words, following the checklist.")));
    }
    var copyBtn = say.length ? el("button", { type: "button", id: "copy-answer", class: "primary", "data-copy": a.say_text }, t("Copy answer")) : null;
    container.appendChild(el("div", { class: "answer-actions" }, copyBtn, feedbackButtons("", true)));
    if (a.checklist && a.checklist.length) {
      container.appendChild(el("h3", null, t("Agent checklist")));
      var ol = el("ol", { class: "checklist", id: "answer-checklist" });
      a.checklist.forEach(function (c) {
        if (c.gap) { ol.appendChild(el("li", { class: "gap" }, c.text)); return; }
        var li = el("li", { class: c.number === null || c.number === undefined ? "rule" : "step" }, c.text);
        if (c.number !== null && c.number !== undefined) li.value = c.number;
        if (c.sub && c.sub.length) {
          var sub = el("ul");
          c.sub.forEach(function (x) { sub.appendChild(el("li", null, x)); });
          li.appendChild(sub);
        }
        ol.appendChild(li);
      });
      container.appendChild(ol);
    }
    if (a.ticket_quotes && a.ticket_quotes.length) {
      container.appendChild(el("h3", null, t("From past tickets")));
      var tq = el("ul", { class: "ticket-quotes" });
      a.ticket_quotes.forEach(function (t) {
        tq.appendChild(el("li", null, t.text + " ", el("a", { href: t.url, class: "small" }, t.id)));
      });
      container.appendChild(tq);
    }
    container.appendChild(el("h3", null, t("Sources")));
    var cl = el("ol", { class: "citations" });
    a.citations.forEach(function (c) {
      cl.appendChild(el("li", null, el("a", { href: c.url }, c.title),
        c.heading && c.heading !== c.title ? el("span", { class: "heading-path" }, " " + c.heading) : null,
        " ", el("span", { class: "badge badge-" + c.type }, c.type === "sop" ? t("SOP") : t("ticket")),
        c.type === "sop" && (c.status === "draft" || c.status === "archived") ? el("span", { class: "badge badge-" + c.status }, t(c.status)) : null,
        c.quoted === false ? el("span", { class: "muted small" }, " " + t("supports it")) : null));
    });
    container.appendChild(cl);
  }

  /* The answer panel before anything is asked (or after the question is cleared). */
  function clearAnswer(container, text) {
    container.textContent = "";
    container.setAttribute("data-query-id", "");
    container.appendChild(el("p", { class: "muted placeholder" }, text));
  }

  /* Copy buttons and helpful / not-helpful buttons anywhere on a page (event delegation). */
  document.addEventListener("click", async function (ev) {
    var copy = ev.target.closest("#copy-answer");
    if (copy) {
      // the customer wording only: never the agent's checklist
      var words = copy.getAttribute("data-copy") || "";
      var ok = words !== "" && await copyText(words);
      copy.textContent = ok ? t("Copied ✓") : t("Copy failed: select the text");
      copy.setAttribute("data-copied", ok ? "1" : "0");
      setTimeout(function () { copy.textContent = t("Copy answer"); }, 2500);
      return;
    }
    var fb = ev.target.closest(".fb");
    if (!fb) return;
    var box = fb.closest(".feedback");
    var holder = fb.closest("[data-query-id]");
    var qid = holder ? holder.getAttribute("data-query-id") : "";
    var urlHolder = fb.closest("[data-feedback-url]") || document.querySelector("[data-feedback-url]");
    if (!qid || !urlHolder) { fb.title = t("Nothing to rate yet"); return; }
    var body = { query_id: parseInt(qid, 10), helpful: fb.getAttribute("data-helpful") === "1" };
    var doc = box.getAttribute("data-doc-id");
    if (doc) body.doc_id = doc;
    try {
      await api(urlHolder.getAttribute("data-feedback-url"), { method: "POST", body: body });
      box.querySelectorAll(".fb").forEach(function (b) { b.classList.remove("chosen"); });
      fb.classList.add("chosen");
      fb.setAttribute("aria-pressed", "true");
    } catch (e) {
      fb.title = t("Not recorded: ") + e.message;
    }
  });

  window.Deskbook = { t: t, number: number, api: api, el: el, markedSnippet: markedSnippet, copyText: copyText, renderAnswer: renderAnswer,
                      clearAnswer: clearAnswer, feedbackButtons: feedbackButtons, csrfToken: csrfToken };
})();
