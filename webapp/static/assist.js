/* Live assist: the conversation grows (typed, pasted, or pushed through the API by a speech-to-text
 * or chat system); the side panel shows the applicable SOPs and the suggested answer. The page
 * polls the conversation every 2 s for turns pushed from elsewhere. */
(function () {
  "use strict";
  var D = window.Deskbook;
  var app = document.getElementById("assist-app");
  if (!app) return;
  var url = app.getAttribute("data-url");
  var turnsUrl = app.getAttribute("data-turns-url");
  var revision = parseInt(app.getAttribute("data-revision"), 10) || 0;
  var turnsList = document.getElementById("turns");
  var form = document.getElementById("turn-form");
  var text = document.getElementById("turn-text");
  var status = document.getElementById("assist-status");
  var sops = document.getElementById("assist-sops");
  var answerBox = document.getElementById("answer");
  var busy = false;

  function renderTurns(turns) {
    turnsList.textContent = "";
    turns.forEach(function (t) {
      turnsList.appendChild(D.el("li", { class: "turn turn-" + t.speaker },
        D.el("span", { class: "speaker" }, D.t(t.speaker)), " ", D.el("span", { class: "text" }, t.text)));
    });
    turnsList.scrollTop = turnsList.scrollHeight;
  }

  function renderSuggestion(s) {
    if (!s) return;
    sops.textContent = "";
    if (!s.sops.length) sops.appendChild(D.el("li", { class: "muted" }, D.t("No SOP applies yet.")));
    s.sops.forEach(function (x, i) {
      sops.appendChild(D.el("li", { class: i === 0 ? "main-sop" : "" }, D.el("a", { href: x.url, target: "_blank" }, x.title),
        x.heading && x.heading !== x.title ? D.el("span", { class: "heading-path" }, " " + x.heading) : null));
    });
    D.renderAnswer(answerBox, s.answer);
    if (s.topic_changed) status.textContent = D.t("New topic: ") + s.topic;
  }

  function apply(conv) {
    if (conv.changed === false) return;
    revision = conv.revision;
    renderTurns(conv.turns);
    renderSuggestion(conv.suggestion);
  }

  async function poll() {
    if (busy || document.hidden) return;
    try {
      apply(await D.api(url + "?since=" + revision));
    } catch (e) {
      if (e.status !== 404) status.textContent = D.t("Could not refresh: ") + e.message;
    }
  }

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var value = text.value.trim();
    if (!value) return;
    var speaker = (new FormData(form)).get("speaker") || "customer";
    var pasted = /\n/.test(value) || /^\s*[A-Za-z][\w .'-]{0,40}:\s/.test(value);
    var body = pasted ? { text: value } : { turns: [{ speaker: speaker, text: value }] };
    busy = true;
    status.textContent = D.t("Updating suggestions…");
    try {
      var conv = await D.api(turnsUrl, { method: "POST", body: body });
      text.value = "";
      apply(conv);
      if (!conv.suggestion || !conv.suggestion.topic_changed) status.textContent = "";
    } catch (e) {
      status.textContent = e.message;
    } finally {
      busy = false;
      text.focus();
    }
  });

  text.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); form.requestSubmit(); }
  });

  revision = -1;  // load the suggestion once on open
  poll();
  setInterval(poll, 2000);
})();
