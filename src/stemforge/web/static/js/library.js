/* The library page: filters and sort over /api/tracks, pagination, and uploads with
   per-file progress that follow each file's analysis job until it is in the table. */
(function () {
  "use strict";
  const { fetchJSON, showError, h, fmtBpm, fmtLufs, fmtDuration, fmtBytes, camelotStyle, debounce } = window.SF;

  const state = window.SF.readState("library-state");
  const form = document.getElementById("filters");
  const rows = document.getElementById("track-rows");
  const table = document.getElementById("tracks");
  const panel = table.closest(".panel");
  const countText = document.getElementById("result-count");
  const pageText = document.getElementById("page-text");
  const prev = document.getElementById("prev-page");
  const next = document.getElementById("next-page");
  const exportLink = document.getElementById("export-daw");
  const filterError = document.getElementById("filter-error");
  const sortInput = document.getElementById("f-sort");
  const descInput = document.getElementById("f-desc");
  const sortMobile = document.getElementById("f-sort-mobile");
  const descMobile = document.getElementById("f-desc-mobile");

  const FILTERS = ["q", "bpm_min", "bpm_max", "key", "compatible_with", "lufs_min", "lufs_max",
    "genre", "tag", "duration_min_s", "duration_max_s"];

  // --- the table -----------------------------------------------------------------------

  function filterParams() {
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const field = form.elements[name];
      const value = field ? field.value.trim() : "";
      if (value) params.set(name, value);
    }
    return params;
  }

  function trackRow(t) {
    const tags = (t.tags || []).length
      ? t.tags.map((tag) => h("span", { class: "chip" }, tag))
      : [h("span", { class: "muted" }, "–")];
    return h("tr", { dataset: { id: t.id } },
      h("td", { class: "title-cell" },
        h("a", { href: "/tracks/" + t.id }, t.title || t.file_name),
        h("div", { class: "artist" }, t.artist || t.file_name)),
      h("td", { class: "num", "data-label": "BPM" }, fmtBpm(t.tempo_bpm)),
      h("td", { "data-label": "Key" }, t.key || "–"),
      h("td", { "data-label": "Camelot" },
        t.camelot ? h("span", { class: "camelot", style: camelotStyle(t.camelot) }, t.camelot) : "–"),
      h("td", { class: "num", "data-label": "LUFS" }, fmtLufs(t.integrated_lufs)),
      h("td", { class: "num", "data-label": "Length" }, fmtDuration(t.duration_s)),
      h("td", { "data-label": "Genre" }, t.genre || "–"),
      h("td", { "data-label": "Tags" }, tags));
  }

  function countLabel(total, filtered) {
    const noun = total === 1 ? "track" : "tracks";
    const n = total.toLocaleString("en-US");
    if (!filtered) return n + " " + noun;
    return n + " " + noun + (total === 1 ? " matches" : " match");
  }

  function render(data, filtered) {
    state.total = data.total;
    state.offset = data.offset;
    state.limit = data.limit;
    const items = data.items || [];
    rows.replaceChildren(...(items.length
      ? items.map(trackRow)
      : [h("tr", { class: "empty-row" }, h("td", { class: "empty", colspan: 8 },
          filtered ? "No tracks match these filters." : "No tracks yet: drop some audio files above."))]));
    const label = countLabel(data.total, filtered);
    countText.textContent = label;
    table.querySelector("caption").textContent = "Tracks, " + label;
    pageText.textContent = items.length
      ? (data.offset + 1).toLocaleString("en-US") + "–" + (data.offset + items.length).toLocaleString("en-US") +
        " of " + data.total.toLocaleString("en-US")
      : "No rows";
    prev.disabled = data.offset <= 0;
    next.disabled = data.offset + items.length >= data.total;
  }

  function updateSortHeaders() {
    for (const th of table.querySelectorAll("thead th[aria-sort]")) {
      const key = th.querySelector(".sort").dataset.sort;
      th.setAttribute("aria-sort", key === state.sort ? (state.desc ? "descending" : "ascending") : "none");
    }
    sortInput.value = state.sort;
    descInput.value = state.desc ? "true" : "false";
    if (sortMobile) sortMobile.value = state.sort;
    if (descMobile) {
      descMobile.setAttribute("aria-pressed", state.desc ? "true" : "false");
      descMobile.textContent = state.desc ? "Descending" : "Ascending";
    }
  }

  let controller = null;
  let requestNo = 0;

  /** Fetch and show the rows for the form's filters, the sort and the offset. */
  async function load(options) {
    if (!(options && options.keepOffset)) state.offset = 0;
    const filters = filterParams();
    const filtered = [...filters.keys()].length > 0;
    const params = new URLSearchParams(filters);
    params.set("sort", state.sort);
    params.set("desc", state.desc ? "true" : "false");
    params.set("limit", String(state.limit || 50));
    params.set("offset", String(state.offset || 0));
    if (controller) controller.abort();
    controller = new AbortController();
    const mine = ++requestNo;
    panel.classList.add("loading");
    table.setAttribute("aria-busy", "true");
    try {
      const data = await fetchJSON("/api/tracks?" + params, { signal: controller.signal });
      if (mine !== requestNo) return;
      showError(filterError, null);
      render(data, filtered);
    } catch (err) {
      if (err.name === "AbortError" || mine !== requestNo) return;
      showError(filterError, err);
    } finally {
      if (mine === requestNo) {
        panel.classList.remove("loading");
        table.removeAttribute("aria-busy");
      }
    }
    updateSortHeaders();
    const exportParams = new URLSearchParams(filters);
    exportParams.set("layout", "daw");
    exportLink.href = "/api/export?" + exportParams;
    // the address holds the view, so Back from a track returns to the same rows
    const pageParams = new URLSearchParams(filters);
    if (state.sort !== "added" || !state.desc) {
      pageParams.set("sort", state.sort);
      pageParams.set("desc", state.desc ? "true" : "false");
    }
    if (state.offset) pageParams.set("offset", String(state.offset));
    const query = pageParams.toString();
    history.replaceState(null, "", query ? "/?" + query : "/");
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  const typed = debounce(() => load(), 250);
  for (const field of form.querySelectorAll("input:not([type=hidden])")) {
    field.addEventListener("input", typed);
  }
  for (const field of form.querySelectorAll("select:not(#f-sort-mobile)")) {
    field.addEventListener("change", () => load());
  }
  document.getElementById("clear-filters").addEventListener("click", (event) => {
    event.preventDefault();
    for (const name of FILTERS) if (form.elements[name]) form.elements[name].value = "";
    load();
  });

  for (const button of table.querySelectorAll("button.sort")) {
    button.addEventListener("click", () => {
      const key = button.dataset.sort;
      if (state.sort === key) state.desc = !state.desc;
      else { state.sort = key; state.desc = key === "added"; }
      load();
    });
  }
  if (sortMobile) {
    sortMobile.addEventListener("change", () => { state.sort = sortMobile.value; load(); });
    descMobile.addEventListener("click", () => { state.desc = !state.desc; load(); });
  }
  prev.addEventListener("click", () => {
    state.offset = Math.max(0, state.offset - state.limit);
    load({ keepOffset: true });
  });
  next.addEventListener("click", () => {
    state.offset = state.offset + state.limit;
    load({ keepOffset: true });
  });

  // --- uploads -------------------------------------------------------------------------

  const dropzone = document.getElementById("dropzone");
  const fileInput = document.getElementById("file-input");
  const uploads = document.getElementById("uploads");
  const watched = new Map(); // job id -> upload item

  function uploadItem(file) {
    const bar = h("progress", { max: 1, value: 0, "aria-label": "Progress of " + file.name });
    const stateText = h("span", { class: "upload-state" }, "Waiting…");
    const message = h("div", { class: "message", hidden: true });
    const li = h("li", { class: "upload-item" }, h("span", { class: "name", title: file.name }, file.name), bar, stateText, message);
    uploads.prepend(li);
    return {
      li, bar, stateText, message,
      set(text, fraction) {
        stateText.textContent = text;
        if (fraction === null) bar.removeAttribute("value");
        else if (fraction !== undefined) bar.value = fraction;
      },
      fail(err) {
        li.classList.add("failed");
        li.dataset.state = "failed";
        stateText.textContent = "Failed";
        bar.value = 1;
        message.hidden = false;
        message.textContent = err.message || String(err);
        if (err.hint) message.append(h("span", { class: "hint" }, " " + err.hint));
      },
      done(trackId, text) {
        li.classList.add("done");
        li.dataset.state = "done";
        bar.value = 1;
        stateText.replaceChildren(text + " ", trackId ? h("a", { href: "/tracks/" + trackId, class: "open-track" }, "Open") : "");
      },
    };
  }

  /** POST one file to /api/uploads with upload progress; resolves with the server's entry. */
  function send(file, item) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/uploads");
      xhr.setRequestHeader("Accept", "application/json");
      xhr.responseType = "text";
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) {
          const fraction = event.loaded / event.total;
          item.set("Uploading " + Math.round(fraction * 100) + "%", fraction);
        }
      });
      xhr.addEventListener("load", () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          let body = null;
          try { body = JSON.parse(xhr.responseText); } catch (_) { body = null; }
          const entry = body && body.files && body.files[0];
          if (entry) resolve(entry);
          else reject(new window.SF.ApiError(xhr.status, { message: "The server gave no answer for this file." }));
        } else {
          let body = null;
          try { body = JSON.parse(xhr.responseText); } catch (_) { body = null; }
          if (body && !body.message && typeof body.detail === "string") body = { message: body.detail };
          if (!body || !body.message) {
            const why = { 413: "The file is too big for this server.", 415: "This file is not audio stemforge can read." }[xhr.status];
            body = { message: why || "The upload failed (HTTP " + xhr.status + ")." };
          }
          reject(new window.SF.ApiError(xhr.status, body));
        }
      });
      xhr.addEventListener("error", () => reject(new window.SF.ApiError(0, { message: "The upload was interrupted.", hint: "Check that the server is running and try again." })));
      const data = new FormData();
      data.append("files", file, file.name);
      xhr.send(data);
    });
  }

  async function uploadOne(file) {
    const item = uploadItem(file);
    if (state.max_upload_bytes && file.size > state.max_upload_bytes) {
      item.fail({ message: file.name + " is " + fmtBytes(file.size) + ", over this server's limit of " + fmtBytes(state.max_upload_bytes) + "." });
      return;
    }
    item.set("Uploading 0%", 0);
    let entry;
    try {
      entry = await send(file, item);
    } catch (err) {
      item.fail(err);
      return;
    }
    if (entry.status === "duplicate") {
      item.done(entry.track_id, "Already in the library.");
    } else if (entry.status === "failed" || !entry.job_id) {
      item.fail({ message: entry.reason || "The server could not take this file." });
    } else {
      item.li.dataset.jobId = entry.job_id;
      item.set("Queued for analysis", 0);
      watch(entry.job_id, item);
    }
  }

  async function uploadAll(files) {
    const list = Array.from(files || []);
    const queue = list.slice();
    // two uploads at a time: the bars move, and one large file does not hold up the rest
    const lanes = Array.from({ length: Math.min(2, queue.length) }, async () => {
      while (queue.length) await uploadOne(queue.shift());
    });
    await Promise.all(lanes);
  }

  // --- following the analysis jobs ------------------------------------------------------

  let events = null;
  let pollTimer = null;

  function jobUpdate(job) {
    const item = watched.get(job.id);
    if (!item) return;
    if (job.state === "queued") item.set("Queued for analysis", 0);
    else if (job.state === "running") item.set("Analysing " + Math.round((job.progress || 0) * 100) + "%", job.progress || 0);
    else if (job.state === "done") {
      watched.delete(job.id);
      const result = job.result || {};
      const trackId = job.track_id || result.track_id;
      item.done(trackId, result.status === "duplicate" ? "Already in the library." : "Added.");
      refreshSoon();
    } else if (job.state === "failed" || job.state === "cancelled") {
      watched.delete(job.id);
      item.fail({ message: job.error || "The analysis was " + job.state + "." });
    }
    if (!watched.size) stopWatching();
  }

  const refreshSoon = debounce(() => load({ keepOffset: true }), 300);

  function stopWatching() {
    if (events) { events.close(); events = null; }
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }

  function connect() {
    stopWatching();
    if (!watched.size) return;
    if (!("EventSource" in window)) { poll(); return; }
    events = new EventSource("/api/jobs/events?ids=" + [...watched.keys()].join(","));
    events.addEventListener("job", (event) => jobUpdate(JSON.parse(event.data)));
    events.addEventListener("error", () => {
      if (events && events.readyState === EventSource.CLOSED) { events = null; poll(); }
    });
    // a job may have finished before the stream opened
    for (const id of watched.keys()) fetchJSON("/api/jobs/" + id).then(jobUpdate, () => {});
  }

  function poll() {
    if (pollTimer) return;
    pollTimer = setInterval(() => {
      for (const id of watched.keys()) fetchJSON("/api/jobs/" + id).then(jobUpdate, () => {});
    }, 1000);
  }

  function watch(jobId, item) {
    watched.set(jobId, item);
    connect();
  }

  document.getElementById("upload-button").addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    uploadAll(fileInput.files);
    fileInput.value = "";
  });
  let depth = 0;
  dropzone.addEventListener("dragenter", (event) => { event.preventDefault(); depth++; dropzone.classList.add("dragging"); });
  dropzone.addEventListener("dragover", (event) => { event.preventDefault(); event.dataTransfer.dropEffect = "copy"; });
  dropzone.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; dropzone.classList.remove("dragging"); } });
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    depth = 0;
    dropzone.classList.remove("dragging");
    uploadAll(event.dataTransfer.files);
  });
  // a file dropped beside the zone must not navigate away from the page
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  updateSortHeaders();
})();
