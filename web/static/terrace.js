// Terrace pages: progressive enhancement only (every page reads without it). A run's logs
// stream while it works: each <pre data-stream="URL"> follows the server's events, whose
// data is HTML the server rendered and escaped; when the run moves on, the page reloads to
// show its new status and actions.
"use strict";
for (const pre of document.querySelectorAll("pre[data-stream]")) {
  const source = new EventSource(pre.dataset.stream);
  source.onmessage = (event) => {
    pre.parentElement.querySelector(".no-log")?.remove();
    const atBottom = window.innerHeight + window.scrollY >= document.body.offsetHeight - 8;
    pre.insertAdjacentHTML("beforeend", event.data + "\n");
    if (atBottom) window.scrollTo(0, document.body.scrollHeight);
  };
  source.addEventListener("end", () => {
    source.close();
    window.location.reload();
  });
}
