// Search page: tell the portal which result rank was opened, for the tenant's relevance
// figures. One beacon per click; the server counts only the first click of each results page.
(function () {
  "use strict";
  const feedback = document.getElementById("search-feedback");
  if (!feedback) { return; }

  function send(rank) {
    const body = new FormData();
    body.append("csrfmiddlewaretoken", feedback.dataset.csrf);
    body.append("token", feedback.dataset.token);
    body.append("rank", rank);
    // sendBeacon survives the navigation the click starts; fetch keepalive is the fallback.
    if (navigator.sendBeacon && navigator.sendBeacon(feedback.dataset.url, body)) { return; }
    fetch(feedback.dataset.url, {
      method: "POST", body: body, credentials: "same-origin", keepalive: true,
    }).catch(function () { /* advisory: a lost click must never block the link */ });
  }

  function onOpen(event) {
    const link = event.target.closest("a.open[data-rank]");
    // Left click, or middle click opening a new tab; a right click only opens a menu.
    if (!link || (event.type === "auxclick" && event.button !== 1)) { return; }
    send(link.dataset.rank);
  }

  document.addEventListener("click", onOpen);
  document.addEventListener("auxclick", onOpen);
})();
