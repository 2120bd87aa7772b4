/* The jobs page: the recent jobs from /api/jobs, kept live by the server-sent events of
   /api/jobs/events (a job's state and progress as they change); cancel. */
(function () {
  "use strict";
  const { fetchJSON, showError, h } = window.SF;

  const list = document.getElementById("jobs");
  const live = document.getElementById("live");
  const errorBox = document.getElementById("jobs-error");
  const stateFilter = document.getElementById("job-state");
  const rows = new Map(); // job id -> {li, job}
  const ACTIVE = new Set(["queued", "running"]);

  function baseName(path) {
    return String(path || "").split(/[\\/]/).pop();
  }

  function describe(job) {
    const params = job.params || {};
    if (job.kind === "ingest") return ["Add " + (baseName(params.path) || "a file"), "analysis with the " + (params.analyzer || "full") + " analyzer"];
    if (job.kind === "analyze") return ["Analyse track " + (job.track_id || params.track_id), (params.analyzer || "full") + " analyzer"];
    return [job.kind + " job", job.track_id ? "track " + job.track_id : ""];
  }

  function when(job) {
    const stamp = job.finished_at || job.started_at || job.created_at;
    if (!stamp) return "";
    const date = new Date(stamp);
    return Number.isNaN(date.getTime()) ? "" : date.toLocaleString();
  }

  function build(job) {
    const [title, detail] = describe(job);
    const pct = Math.round((job.state === "done" ? 1 : job.progress || 0) * 100);
    const info = [detail, when(job)].filter(Boolean).join(" · ");
    const li = h("li", { class: "job", dataset: { id: job.id, state: job.state } },
      h("span", { class: "id" }, "#" + job.id),
      h("div", { class: "what" },
        job.track_id && job.state === "done" ? h("strong", {}, h("a", { href: "/tracks/" + job.track_id }, title)) : h("strong", {}, title),
        h("span", {}, info)),
      h("progress", { max: 100, value: pct, "aria-label": "Progress of job " + job.id + ": " + pct + "%" }),
      h("span", { class: "state " + job.state }, job.state === "running" ? pct + "%" : job.state),
      ACTIVE.has(job.state)
        ? h("button", { type: "button", class: "button ghost cancel", "aria-label": "Cancel job " + job.id, onclick: () => cancel(job.id) }, "Cancel")
        : h("span", { class: "pct", "aria-hidden": "true" }),
      job.error ? h("p", { class: "error" }, job.error) : null);
    if (job.state === "done") li.classList.add("done");
    if (job.state === "failed") li.classList.add("failed");
    return li;
  }

  function matches(job) {
    return !stateFilter.value || job.state === stateFilter.value;
  }

  function upsert(job) {
    const old = rows.get(job.id);
    if (!matches(job)) {
      if (old) { old.li.remove(); rows.delete(job.id); }
      return;
    }
    const li = build(job);
    if (old) old.li.replaceWith(li);
    else {
      // newest first: before the first row with a smaller id
      const after = [...rows.values()].map((r) => r.job).filter((j) => j.id < job.id).sort((a, b) => b.id - a.id)[0];
      if (after) rows.get(after.id).li.before(li);
      else list.append(li);
    }
    rows.set(job.id, { li, job });
    empty();
  }

  function empty() {
    const placeholder = document.getElementById("jobs-empty");
    if (rows.size && placeholder) placeholder.remove();
    if (!rows.size && !placeholder) list.append(h("li", { class: "muted", id: "jobs-empty" }, stateFilter.value ? "No " + stateFilter.value + " jobs." : "No jobs yet: upload tracks on the library page."));
  }

  async function cancel(id) {
    try {
      upsert(await fetchJSON("/api/jobs/" + id + "/cancel", { method: "POST" }));
    } catch (err) {
      showError(errorBox, err);
    }
  }

  async function load() {
    const params = new URLSearchParams({ limit: "100" });
    if (stateFilter.value) params.set("state", stateFilter.value);
    try {
      const data = await fetchJSON("/api/jobs?" + params);
      showError(errorBox, null);
      rows.clear();
      list.replaceChildren();
      for (const job of data.items || []) upsert(job);
      empty();
    } catch (err) {
      showError(errorBox, err);
      list.replaceChildren();
    }
  }

  function setLive(on, text) {
    live.classList.toggle("on", on);
    live.textContent = text;
  }

  function connect() {
    if (!("EventSource" in window)) { setLive(false, "Refresh to update"); return; }
    const events = new EventSource("/api/jobs/events");
    events.addEventListener("open", () => setLive(true, "Live"));
    events.addEventListener("job", (event) => upsert(JSON.parse(event.data)));
    events.addEventListener("error", () => {
      setLive(false, events.readyState === EventSource.CLOSED ? "Disconnected" : "Reconnecting…");
      if (events.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    });
  }

  stateFilter.addEventListener("change", load);
  load().then(connect);
})();
