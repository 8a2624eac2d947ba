// Poll the job's API and update the progress bar until the job finishes.
(function () {
  const section = document.getElementById("job");
  if (!section) return;
  const url = section.dataset.jobUrl;
  const set = (id, value) => { document.getElementById(id).textContent = value; };
  async function tick() {
    let job;
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) return setTimeout(tick, 3000);
      job = await response.json();
    } catch (err) {
      return setTimeout(tick, 3000);
    }
    const bar = document.getElementById("job-progress");
    bar.value = job.percent;
    bar.textContent = job.percent + "%";
    set("job-status", job.status.replaceAll("_", " "));
    set("job-files", job.files_done + "/" + job.files_total);
    set("job-chunks", job.chunks_indexed);
    set("job-skipped", job.files_skipped);
    set("job-failed", job.files_failed);
    set("job-elapsed", (job.elapsed_seconds || 0).toFixed(1));
    // Git repositories sync before indexing; show the stage and the commit being indexed.
    const stage = document.getElementById("job-stage");
    stage.hidden = job.is_finished || !job.stage;
    stage.textContent = " · " + job.stage;
    const commit = document.getElementById("job-commit");
    commit.hidden = !job.commit;
    commit.querySelector("code").textContent = (job.commit || "").slice(0, 12);
    const error = document.getElementById("job-error");
    error.hidden = !job.error;
    error.textContent = job.error || "";
    if (!job.is_finished) setTimeout(tick, 1000);
    else if (job.files_skipped || job.files_failed) setTimeout(() => window.location.reload(), 500);
  }
  tick();
})();
