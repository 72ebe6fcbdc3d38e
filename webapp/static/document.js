/* A document opened from a search: bring the matched passage into view. */
(function () {
  "use strict";
  var match = document.getElementById("match");
  if (!match) return;
  function show() { match.scrollIntoView({ block: "center" }); }
  if (document.readyState === "complete") show(); else window.addEventListener("load", show);
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" || (ev.key === "/" && ev.target === document.body)) {
      ev.preventDefault();
      var back = document.querySelector(".crumbs a");
      if (back) window.location.href = back.href;
    }
  });
})();
