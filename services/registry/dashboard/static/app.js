// VIR Exchange dashboard: the only script. Live progress of an import job (no framework).
(function () {
  "use strict";
  var job = document.querySelector("[data-job-url]");
  if (!job) { return; }
  var url = job.getAttribute("data-job-url");
  var bar = job.querySelector(".progress > div");
  var label = job.querySelector("[data-progress-label]");
  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        bar.style.width = data.percent + "%";
        job.querySelector(".progress").setAttribute("aria-valuenow", String(data.percent));
        label.textContent = data.label;
        if (data.done) { window.location.reload(); } else { window.setTimeout(poll, 700); }
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }
  if (job.getAttribute("data-done") !== "true") { window.setTimeout(poll, 300); }
})();
