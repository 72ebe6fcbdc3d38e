/* Background jobs (uploads, scoring): poll each running job and show its progress. */
(function () {
  "use strict";
  var D = window.Deskbook;
  var jobs = document.querySelectorAll("[data-job-url]");
  jobs.forEach(function (li) {
    var st = li.getAttribute("data-status");
    if (st !== "queued" && st !== "running") return;
    var url = li.getAttribute("data-job-url");
    var bar = li.querySelector("progress");
    var status = li.querySelector(".job-status");
    var message = li.querySelector(".job-message");
    async function tick() {
      try {
        var job = await D.api(url);
        bar.value = job.percent;
        bar.textContent = job.percent + "%";
        var problems = (job.error && job.error.errors) || (job.result && job.result.errors) || [];
        var partial = job.status === "done" && problems.length;
        status.textContent = partial ? D.t("done, {n} problem(s)", { n: problems.length }) : D.t(job.status);
        status.className = "job-status status-" + (partial ? "partial" : job.status);
        message.textContent = job.message + (job.total ? " (" + job.done + "/" + job.total + ")" : "");
        li.setAttribute("data-status", job.status);
        if (job.status === "done" || job.status === "failed") {
          var errors = problems.length ? problems : (job.error ? [job.error.message] : []);
          if (errors.length) {
            var ul = D.el("ul", { class: "job-errors small" });
            errors.slice(0, 10).forEach(function (e) { ul.appendChild(D.el("li", null, e)); });
            li.appendChild(ul);
          }
          var link = li.getAttribute("data-done-link");
          if (link && job.status === "done") {
            li.appendChild(D.el("a", { href: link }, li.getAttribute("data-done-text") || D.t("Open the results")));
          }
          return;
        }
      } catch (e) {
        message.textContent = D.t("Could not refresh: ") + e.message;
      }
      setTimeout(tick, 600);
    }
    tick();
  });
})();
