// Poll the signup status API and show each provisioning step as it completes.
(function () {
  const section = document.getElementById("provisioning");
  if (!section) return;
  async function tick() {
    let tenant;
    try {
      const response = await fetch(section.dataset.statusUrl, { headers: { Accept: "application/json" } });
      tenant = await response.json();
    } catch (err) {
      return setTimeout(tick, 2000);
    }
    document.getElementById("tenant-status").textContent = tenant.status;
    document.getElementById("tenant-detail").textContent = tenant.status_detail || "";
    for (const step of tenant.steps) {
      const item = document.querySelector('[data-step="' + step.name + '"] span');
      if (item) item.textContent = step.status;
    }
    if (tenant.status === "ready") document.getElementById("site-link").hidden = false;
    else if (tenant.status !== "failed") setTimeout(tick, 1000);
  }
  tick();
})();
