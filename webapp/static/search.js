/* The agent search page: results as you type, the suggested answer beside them, keyboard navigation.
 *   typing        -> search after 150 ms of quiet (not logged)
 *   a pause       -> after 600 ms: the answer, and the search again, both logged for the manager reports
 *   Enter         -> open the selected result, or search and answer now
 *   Up / Down     -> move through the results;  Esc -> clear the selection, then the query;  / -> focus
 *   an empty box  -> results and answer cleared;  a question longer than the server reads -> one message */
(function () {
  "use strict";
  var D = window.Deskbook;
  var app = document.getElementById("search-app");
  if (!app) return;
  var form = document.getElementById("search-form");
  var q = document.getElementById("q");
  var list = document.getElementById("results");
  var status = document.getElementById("status");
  var answerBox = document.getElementById("answer");
  var searchUrl = app.getAttribute("data-search-url");
  var answerUrl = app.getAttribute("data-answer-url");
  var typeTimer = null, settleTimer = null;
  var seq = 0, answerSeq = 0;
  var searchAbort = null, answerAbort = null;
  var selected = -1;
  var lastSettled = null;
  var renderedQuery = q.value.trim();
  var maxChars = parseInt(app.getAttribute("data-max-chars"), 10) || 2000;
  var PLACEHOLDER = D.t("Type a question to get a suggested answer built from the published SOPs and past resolutions.");

  function filters() {
    var fd = new FormData(form);
    return { type: fd.get("type") || "", tag: fd.get("tag") || "", status: fd.get("status") || "" };
  }

  function params(query, log) {
    var f = filters();
    var p = new URLSearchParams({ q: query, log: log ? "true" : "false" });
    if (f.type) p.append("type", f.type);
    if (f.tag) p.append("tag", f.tag);
    if (f.status) p.append("status", f.status);
    return p;
  }

  /* Nothing to show: the results, the status line and the answer go back to their empty state. */
  function clearAll(message) {
    seq++; answerSeq++;
    if (searchAbort) searchAbort.abort();
    if (answerAbort) answerAbort.abort();
    list.textContent = "";
    status.textContent = message || "";
    selected = -1;
    lastSettled = null;
    var weak = document.getElementById("weak-match");
    if (weak) weak.hidden = true;
    answerBox.classList.remove("loading");
    D.clearAnswer(answerBox, PLACEHOLDER);
  }

  /* A question longer than search reads gets one message, in the status line, and no request. */
  function tooLong(query) {
    if (query.length <= maxChars) return false;
    clearAll(D.t("The question is {n} characters long; search and answers read at most {max}. Describe the problem in " +
      "a sentence or two, or paste only the customer's question.", { n: D.number(query.length), max: D.number(maxChars) }));
    return true;
  }

  function items() { return Array.prototype.slice.call(list.querySelectorAll(".result")); }

  function select(i) {
    var all = items();
    if (!all.length) { selected = -1; return; }
    selected = Math.max(-1, Math.min(i, all.length - 1));
    all.forEach(function (li, j) {
      li.classList.toggle("selected", j === selected);
      li.setAttribute("aria-selected", j === selected ? "true" : "false");
    });
    if (selected >= 0) all[selected].scrollIntoView({ block: "nearest" });
  }

  function render(data) {
    renderedQuery = data.query;
    list.textContent = "";
    list.setAttribute("data-query-id", data.query_id === null || data.query_id === undefined ? "" : data.query_id);
    data.results.forEach(function (h) {
      var link = D.el("a", { class: "result-link", href: h.url },
        D.el("span", { class: "badge badge-" + h.type }, h.type === "sop" ? D.t("SOP") : D.t("Ticket")),
        D.el("span", { class: "result-title" }, h.title),
        h.type === "sop" && (h.status === "draft" || h.status === "archived") ? D.el("span", { class: "badge badge-" + h.status }, D.t(h.status)) : null,
        h.heading && h.heading !== h.title ? D.el("span", { class: "heading-path" }, h.heading) : null);
      var snip = D.el("p", { class: "snippet" });
      snip.appendChild(D.markedSnippet(h.snippet));
      list.appendChild(D.el("li", { class: "result", "data-id": h.id, role: "option" }, link, snip,
        D.feedbackButtons(h.id, false)));
    });
    var weak = document.getElementById("weak-match");
    if (weak) weak.hidden = !data.weak_match;
    var n = data.results.length;
    var ms = data.latency_ms < 1 ? "<1" : D.number(Math.round(data.latency_ms));
    status.textContent = n ? D.t(n === 1 ? "{n} result in {ms} ms" : "{n} results in {ms} ms", { n: D.number(n), ms: ms })
                           : D.t("No results. Try other words, or fewer filters.");
    select(n ? 0 : -1);
  }

  async function search(log) {
    var query = q.value.trim();
    if (!query) { clearAll(""); return; }
    if (tooLong(query)) return;
    var mine = ++seq;
    if (searchAbort) searchAbort.abort();
    searchAbort = new AbortController();
    try {
      var data = await D.api(searchUrl + "?" + params(query, log).toString(), { signal: searchAbort.signal });
      if (mine !== seq) return;  // an older answer arriving late
      render(data);
    } catch (e) {
      if (e.name === "AbortError") return;
      if (mine === seq) status.textContent = e.message;
    }
  }

  async function answer() {
    var query = q.value.trim();
    if (!query || query.length > maxChars) return;
    var mine = ++answerSeq;
    if (answerAbort) answerAbort.abort();
    answerAbort = new AbortController();
    answerBox.classList.add("loading");
    try {
      var body = { question: query };
      var f = filters();
      if (f.status) body.status = [f.status];  // the SOPs a manager asked for, as the results and the page without JS
      var data = await D.api(answerUrl, { method: "POST", body: body, signal: answerAbort.signal });
      if (mine !== answerSeq) return;
      D.renderAnswer(answerBox, data);
    } catch (e) {
      if (e.name === "AbortError") return;
      if (mine === answerSeq) D.clearAnswer(answerBox, D.t("No suggested answer: ") + e.message);
    } finally {
      if (mine === answerSeq) answerBox.classList.remove("loading");
    }
  }

  function settle() {
    var key = q.value.trim() + "\u0000" + JSON.stringify(filters());
    if (!q.value.trim() || key === lastSettled || q.value.trim().length > maxChars) return;
    lastSettled = key;
    var url = new URL(window.location.href);
    url.searchParams.set("q", q.value.trim());
    history.replaceState(null, "", url.pathname + "?" + url.searchParams.toString());
    search(true);
    answer();
  }

  function now() {
    clearTimeout(typeTimer);
    clearTimeout(settleTimer);
    lastSettled = null;
    settle();
  }

  q.addEventListener("input", function () {
    clearTimeout(typeTimer);
    clearTimeout(settleTimer);
    if (!q.value.trim()) { clearAll(""); return; }  // cleared (the box's own x, select-all + delete ...)
    typeTimer = setTimeout(function () { search(false); }, 150);
    settleTimer = setTimeout(settle, 600);
  });
  form.addEventListener("change", function (ev) { if (ev.target !== q) now(); });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); now(); });

  q.addEventListener("keydown", function (ev) {
    if (ev.key === "ArrowDown") { ev.preventDefault(); select(selected + 1); }
    else if (ev.key === "ArrowUp") { ev.preventDefault(); select(selected - 1); }
    else if (ev.key === "Enter") {
      ev.preventDefault();
      var all = items();
      if (selected >= 0 && all[selected] && renderedQuery === q.value.trim()) {
        window.location.href = all[selected].querySelector("a").href;
      } else {
        now();
      }
    } else if (ev.key === "Escape") {
      if (selected >= 0) { select(-1); }
      else if (q.value) { q.value = ""; clearAll(""); }
      else { q.blur(); }
    }
  });

  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    var textual = t && (t.tagName === "TEXTAREA" || t.isContentEditable ||
      (t.tagName === "INPUT" && /^(text|search|email|password|number|date|url|tel)$/.test(t.type)));
    var control = t && !textual && (t.tagName === "SELECT" || t.tagName === "INPUT" || t.tagName === "BUTTON");
    if (textual) return;  // the search box handles its own keys
    if (ev.key === "/") { ev.preventDefault(); q.focus(); q.select(); }
    else if (ev.key === "Escape") { select(-1); }
    else if (control) { return; }  // arrows and Enter keep their meaning on radios, selects, buttons
    else if ((ev.key === "ArrowDown" || ev.key === "ArrowUp") && items().length) {
      ev.preventDefault();
      select(selected + (ev.key === "ArrowDown" ? 1 : -1));
    } else if (ev.key === "Enter" && selected >= 0) {
      window.location.href = items()[selected].querySelector("a").href;
    }
  });

  q.focus();
  var len = q.value.length;
  q.setSelectionRange(len, len);
  if (items().length) select(0);
  if (q.value.trim()) lastSettled = q.value.trim() + "\u0000" + JSON.stringify(filters());
})();
