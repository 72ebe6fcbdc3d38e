/* QA review screen: clicking a criterion highlights its evidence in the transcript and scrolls to it. */
(function () {
  "use strict";
  var list = document.getElementById("criteria");
  if (!list) return;
  function show(index, scroll) {
    document.querySelectorAll("mark.ev.active").forEach(function (m) { m.classList.remove("active"); });
    document.querySelectorAll(".criterion.selected").forEach(function (c) { c.classList.remove("selected"); });
    var marks = document.querySelectorAll("mark.ev.c-" + index);
    marks.forEach(function (m) { m.classList.add("active"); });
    var item = list.querySelector('[data-index="' + index + '"]');
    if (item) item.classList.add("selected");
    if (scroll && marks.length) marks[0].scrollIntoView({ block: "center" });
  }
  list.addEventListener("click", function (ev) {
    if (ev.target.closest("form")) return;
    var item = ev.target.closest(".criterion");
    if (!item) return;
    if (ev.target.closest(".ev-link")) ev.preventDefault();
    show(item.getAttribute("data-index"), true);
  });
  var hash = window.location.hash;
  if (hash.indexOf("#crit-") === 0) {
    var item = document.getElementById(hash.slice(1));
    if (item) { show(item.getAttribute("data-index"), false); item.scrollIntoView({ block: "center" }); }
  }
  var erase = document.querySelector("form.erase");  // an erasure request: asked once more (no inline script)
  if (erase) erase.addEventListener("submit", function (ev) {
    if (!window.confirm(erase.getAttribute("data-confirm"))) ev.preventDefault();
  });
})();
