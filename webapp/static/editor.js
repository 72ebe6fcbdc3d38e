/* SOP editor: live preview rendered by the server (the same sanitiser as the SOP view), and a
 * warning before leaving with unsaved changes. */
(function () {
  "use strict";
  var D = window.Deskbook;
  var form = document.getElementById("sop-form");
  var body = document.getElementById("body");
  var preview = document.getElementById("preview");
  if (!form || !body || !preview) return;
  var status = document.getElementById("preview-status");
  var url = form.getAttribute("data-preview-url");
  var timer = null, seq = 0, dirty = false;

  async function refresh() {
    var mine = ++seq;
    try {
      var data = await D.api(url, { method: "POST", body: { body: body.value } });
      if (mine !== seq) return;
      preview.innerHTML = data.html;  // sanitised on the server (webapp.render.render_markdown)
      if (status) status.textContent = "";
    } catch (e) {
      if (status) status.textContent = D.t("Preview unavailable: ") + e.message;
    }
  }

  form.addEventListener("input", function (ev) {
    dirty = true;
    if (ev.target === body) { clearTimeout(timer); timer = setTimeout(refresh, 250); }
  });
  form.addEventListener("submit", function () { dirty = false; });
  // Keep the preview roughly level with the part of the text being edited.
  body.addEventListener("scroll", function () {
    var max = body.scrollHeight - body.clientHeight;
    if (max > 0) preview.scrollTop = (body.scrollTop / max) * (preview.scrollHeight - preview.clientHeight);
  });
  window.addEventListener("beforeunload", function (ev) {
    if (dirty) { ev.preventDefault(); ev.returnValue = ""; }
  });
})();
