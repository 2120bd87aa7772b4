/* The track page: a waveform from precomputed peaks with a playhead that follows the
   audio element, seeking by pointer and keyboard; the mix doctor's findings and plots;
   tags. */
(function () {
  "use strict";
  const { fetchJSON, showError, h, fmtClock, fmtDuration, debounce } = window.SF;

  const state = window.SF.readState("track-state");
  const audio = document.getElementById("audio");
  const canvas = document.getElementById("waveform");
  const play = document.getElementById("play");
  const timeNow = document.getElementById("time-now");
  const timeTotal = document.getElementById("time-total");
  const waveStatus = document.getElementById("wave-status");
  const SEEK_STEP_S = 5;

  let peaks = null; // {min: [], max: [], duration_s}
  let dragging = false;

  /** The time axis of the waveform: the decoded length the peaks were measured over.
      (An audio element's own duration can be an estimate: Chromium revises an Ogg
      file's after seeking near its end.) */
  function duration() {
    if (peaks && peaks.duration_s > 0) return peaks.duration_s;
    if (state.duration_s > 0) return state.duration_s;
    return Number.isFinite(audio.duration) && audio.duration > 0 ? audio.duration : 0;
  }

  function colour(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
  }

  // --- the waveform --------------------------------------------------------------------

  function fitCanvas() {
    const ratio = window.devicePixelRatio || 1;
    const rect = canvas.getBoundingClientRect();
    const width = Math.max(1, Math.round(rect.width * ratio));
    const height = Math.max(1, Math.round(rect.height * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
  }

  /** Draw the peaks (played part darker), section borders and the playhead. */
  function draw() {
    fitCanvas();
    const ctx = canvas.getContext("2d");
    const width = canvas.width, height = canvas.height, mid = height / 2;
    const ratio = window.devicePixelRatio || 1;
    ctx.clearRect(0, 0, width, height);
    const total = duration();
    const position = total > 0 ? Math.min(audio.currentTime / total, 1) : 0;
    const playheadX = Math.round(position * width);
    if (peaks && peaks.max.length) {
      const n = peaks.max.length;
      const bar = Math.max(1, Math.round(2 * ratio)), gap = Math.max(1, Math.round(ratio));
      const wave = colour("--wave"), played = colour("--wave-played");
      for (let x = 0; x < width; x += bar + gap) {
        const lo = Math.floor((x / width) * n), hi = Math.max(lo + 1, Math.floor(((x + bar) / width) * n));
        let top = 0, bottom = 0;
        for (let i = lo; i < hi && i < n; i++) {
          top = Math.max(top, peaks.max[i]);
          bottom = Math.min(bottom, peaks.min[i]);
        }
        const y0 = mid - Math.max(top, 0.01) * (mid - 2);
        const y1 = mid - Math.min(bottom, -0.01) * (mid - 2);
        ctx.fillStyle = x < playheadX ? played : wave;
        ctx.fillRect(x, y0, bar, Math.max(1, y1 - y0));
      }
    }
    if (total > 0) {
      ctx.fillStyle = colour("--line-strong");
      for (const section of state.sections || []) {
        if (section.start_s <= 0) continue;
        ctx.fillRect(Math.round((section.start_s / total) * width), 0, Math.max(1, ratio), height);
      }
    }
    ctx.fillStyle = colour("--playhead");
    ctx.fillRect(Math.min(playheadX, width - 2 * ratio), 0, 2 * ratio, height);
    canvas.dataset.playheadX = String(playheadX);
    timeNow.textContent = fmtClock(audio.currentTime);
    canvas.setAttribute("aria-valuenow", audio.currentTime.toFixed(1));
    canvas.setAttribute("aria-valuetext", fmtDuration(audio.currentTime) + " of " + fmtDuration(total));
  }

  let frame = 0;
  function tick() {
    draw();
    frame = audio.paused ? 0 : requestAnimationFrame(tick);
  }
  function redraw() { if (!frame) requestAnimationFrame(draw); }

  async function loadPeaks() {
    try {
      peaks = await fetchJSON(state.peaks_url);
      waveStatus.hidden = true;
    } catch (err) {
      waveStatus.replaceChildren(h("span", {}, "No waveform: " + err.message));
    }
    draw();
  }

  // --- playing and seeking --------------------------------------------------------------

  async function toggle() {
    if (audio.paused) {
      try { await audio.play(); } catch (err) {
        waveStatus.hidden = false;
        waveStatus.replaceChildren(h("span", {}, "The browser could not play this audio (" + err.message + ")."));
      }
    } else {
      audio.pause();
    }
  }

  function seekTo(seconds) {
    const total = duration();
    if (!total) return;
    audio.currentTime = Math.min(Math.max(seconds, 0), total);
    redraw();
  }

  function seekFromPointer(event) {
    const rect = canvas.getBoundingClientRect();
    seekTo(((event.clientX - rect.left) / rect.width) * duration());
  }

  play.addEventListener("click", toggle);
  audio.addEventListener("play", () => {
    play.setAttribute("aria-pressed", "true");
    play.setAttribute("aria-label", "Pause");
    if (!frame) frame = requestAnimationFrame(tick);
  });
  audio.addEventListener("pause", () => {
    play.setAttribute("aria-pressed", "false");
    play.setAttribute("aria-label", "Play");
    redraw();
  });
  audio.addEventListener("ended", redraw);
  audio.addEventListener("seeked", redraw);
  audio.addEventListener("loadedmetadata", () => {
    timeTotal.textContent = fmtDuration(duration());
    canvas.setAttribute("aria-valuemax", duration().toFixed(1));
    redraw();
  });
  audio.addEventListener("error", () => {
    waveStatus.hidden = false;
    waveStatus.replaceChildren(h("span", {}, "The audio could not be loaded."));
  });

  canvas.addEventListener("pointerdown", (event) => {
    dragging = true;
    canvas.setPointerCapture(event.pointerId);
    seekFromPointer(event);
  });
  canvas.addEventListener("pointermove", (event) => { if (dragging) seekFromPointer(event); });
  canvas.addEventListener("pointerup", () => { dragging = false; });
  canvas.addEventListener("pointercancel", () => { dragging = false; });
  canvas.addEventListener("keydown", (event) => {
    const total = duration();
    const step = event.shiftKey ? SEEK_STEP_S * 3 : SEEK_STEP_S;
    const moves = {
      ArrowLeft: -step, ArrowDown: -step, ArrowRight: step, ArrowUp: step,
      PageDown: -30, PageUp: 30,
    };
    if (event.key in moves) seekTo(audio.currentTime + moves[event.key]);
    else if (event.key === "Home") seekTo(0);
    else if (event.key === "End") seekTo(total);
    else if (event.key === " " || event.key === "Enter" || event.key === "k") toggle();
    else return;
    event.preventDefault();
  });
  for (const link of document.querySelectorAll(".seek-link")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      seekTo(Number(link.dataset.time));
      canvas.focus();
    });
  }
  if ("ResizeObserver" in window) new ResizeObserver(debounce(redraw, 50)).observe(canvas);
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redraw);

  // --- the mix doctor --------------------------------------------------------------------

  const SEVERITIES = [
    ["problem", "Problems", "problem", "problems"],
    ["warning", "Warnings", "warning", "warnings"],
    ["info", "Notes", "note", "notes"],
  ];
  const AREAS = {
    loudness: "Loudness", peaks: "Peaks", dynamics: "Dynamics", stereo: "Stereo & phase",
    tonal: "Tonal balance", masking: "Masking", transients: "Transients", reverb: "Reverb",
    quality: "Quality", rhythm: "Rhythm", reference: "Reference", stems: "Stems",
  };
  const doctorStatus = document.getElementById("doctor-status");
  const doctorError = document.getElementById("doctor-error");
  const summary = document.getElementById("doctor-summary");
  const findingsBox = document.getElementById("findings");
  const plotsBox = document.getElementById("plots");
  const target = document.getElementById("target");

  const plotlyReady = new Promise((resolve) => {
    if (window.Plotly || document.readyState !== "loading") resolve(window.Plotly || null);
    else document.addEventListener("DOMContentLoaded", () => resolve(window.Plotly || null));
  });

  /** Parameter names carry their unit (ARCHITECTURE.md): cutoff_hz 180 -> "cutoff 180 Hz". */
  const UNITS = [
    ["_db_per_octave", "dB/oct"], ["_dbtp", "dBTP"], ["_dbfs", "dBFS"], ["_lufs", "LUFS"], ["_lu", "LU"],
    ["_db", "dB"], ["_khz", "kHz"], ["_hz", "Hz"], ["_ms", "ms"], ["_s", "s"], ["_percent", "%"],
  ];
  function paramText(name, value) {
    let unit = "";
    for (const [suffix, text] of UNITS) {
      if (name.endsWith(suffix)) { unit = text; name = name.slice(0, -suffix.length); break; }
    }
    if (typeof value === "number") {
      value = Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 100) / 100;
      value = String(value).replace("-", "−");
    } else if (typeof value === "boolean") {
      value = value ? "yes" : "no";
    } else if (Array.isArray(value)) {
      value = value.join(", ");
    } else if (value && typeof value === "object") {
      value = JSON.stringify(value);
    }
    return name.replace(/_/g, " ") + ": " + value + (unit ? " " + unit : "");
  }

  function sentence(text) {
    text = String(text || "").trim();
    return text ? text[0].toUpperCase() + text.slice(1) : text;
  }

  function finding(f) {
    const severity = f.severity || "info";
    const when = (f.when || []).slice(0, 6).map((r) => fmtDuration(r.start_s) + "–" + fmtDuration(r.end_s));
    const main = h("div", { class: "finding-main" },
      h("div", { class: "finding-tags" },
        h("span", { class: "badge " + severity }, severity),
        h("span", { class: "area" }, AREAS[f.area] || f.area || ""),
        (f.stems || []).map((s) => h("span", { class: "chip" }, s))),
      h("p", { class: "finding-message" }, sentence(f.message || f.title || f.rule)),
      when.length ? h("p", { class: "finding-when" }, "When: " + when.join(", ") + ((f.when || []).length > 6 ? " …" : "")) : null);
    const fix = f.fix || (f.fixes && f.fixes[0]);
    if (!fix) return h("li", { class: "finding no-fix " + severity, dataset: { rule: f.rule || "" } }, main);
    const params = Object.entries(fix.parameters || {});
    return h("li", { class: "finding " + severity, dataset: { rule: f.rule || "" } }, main,
      h("div", { class: "fix" },
        h("div", { class: "fix-title" }, "Fix" + (fix.target && fix.target !== "mix" ? " · " + fix.target : "")),
        h("p", { class: "fix-action" }, sentence(fix.action)),
        params.length ? h("ul", { class: "params" }, params.map(([k, v]) => h("li", {}, paramText(k, v)))) : null,
        (fix.alternatives || []).length ? h("p", { class: "muted", style: "margin-top: 8px; font-size: .86rem" }, "Or: " + fix.alternatives.join("; ")) : null));
  }

  function renderFindings(result) {
    const findings = result.findings || [];
    summary.replaceChildren();
    findingsBox.replaceChildren();
    for (const [severity, title, one, many] of SEVERITIES) {
      const group = findings.filter((f) => (f.severity || "info") === severity);
      summary.append(h("span", { class: "pill " + severity + (group.length ? "" : " zero") }, group.length + " " + (group.length === 1 ? one : many)));
      if (!group.length) continue;
      findingsBox.append(h("section", { class: "sev-group " + severity, "aria-label": title },
        h("h3", {}, title + " (" + group.length + ")"),
        h("ul", { class: "findings" }, group.map(finding))));
    }
    if (!findings.length) findingsBox.append(h("p", { class: "all-clear" }, "Nothing to fix for this target: the mix is within every check."));
    for (const note of result.notes || []) findingsBox.append(h("p", { class: "muted", style: "margin-top: 10px; font-size: .88rem" }, "Note: " + note));
  }

  /** The figures as a list of {id, title, alt, figure}, whatever shape the API sends. */
  function figureList(figures) {
    const list = Array.isArray(figures) ? figures : Object.entries(figures || {}).map(([id, v]) => Object.assign({ id }, v));
    return list.map((item, i) => {
      const figure = item.figure || item;
      return {
        id: item.id || "plot-" + i,
        title: item.title || (figure.layout && figure.layout.title && (figure.layout.title.text || figure.layout.title)) || "Plot",
        alt: item.alt || "",
        figure,
      };
    }).filter((p) => p.figure && Array.isArray(p.figure.data));
  }

  function themed(layout) {
    const out = Object.assign({}, layout || {});
    delete out.title; // the card has its own heading
    out.autosize = true;
    delete out.width;
    delete out.height;
    if (window.matchMedia("(prefers-color-scheme: dark)").matches) {
      const ink = colour("--ink"), grid = colour("--line");
      out.paper_bgcolor = "rgba(0,0,0,0)";
      out.plot_bgcolor = "rgba(0,0,0,0)";
      out.font = Object.assign({}, out.font || {}, { color: ink });
      for (const key of Object.keys(out)) {
        if (/^[xy]axis\d*$/.test(key)) out[key] = Object.assign({}, out[key], { gridcolor: grid, linecolor: grid, zerolinecolor: grid });
      }
      if (out.legend) out.legend = Object.assign({}, out.legend, { bgcolor: "rgba(0,0,0,0)" });
    }
    return out;
  }

  async function renderPlots(figures) {
    plotsBox.replaceChildren();
    const list = figureList(figures);
    if (!list.length) return;
    // every card is in the grid before the first plot measures its width
    const boxes = list.map((plot) => {
      const box = h("div", { class: "plot", id: "doctor-" + plot.id, role: "img", "aria-label": plot.alt || plot.title });
      plotsBox.append(h("figure", { class: "plot-card" }, h("h3", {}, plot.title), box));
      return box;
    });
    const Plotly = await plotlyReady;
    for (let i = 0; i < list.length; i++) {
      const box = boxes[i], fig = list[i].figure;
      if (!Plotly) { box.textContent = "The plotting library did not load."; continue; }
      try {
        await Plotly.newPlot(box, fig.data, themed(fig.layout), { responsive: true, displaylogo: false });
      } catch (err) {
        box.textContent = "This plot could not be drawn (" + err.message + ").";
      }
    }
  }

  let doctorRequest = 0;
  async function loadDoctor() {
    const mine = ++doctorRequest;
    doctorStatus.hidden = false;
    doctorStatus.replaceChildren(h("span", { class: "spinner", "aria-hidden": "true" }), "Examining the mix…");
    showError(doctorError, null);
    try {
      const result = await fetchJSON(state.doctor_url + "?target=" + encodeURIComponent(target.value));
      if (mine !== doctorRequest) return;
      renderFindings(result);
      doctorStatus.hidden = true;
      await renderPlots(result.figures);
    } catch (err) {
      if (mine !== doctorRequest) return;
      doctorStatus.hidden = true;
      showError(doctorError, err);
    }
  }
  target.addEventListener("change", loadDoctor);

  // --- tags -----------------------------------------------------------------------------

  const tagList = document.getElementById("tag-list");
  const tagForm = document.getElementById("tag-form");
  const tagInput = document.getElementById("tag-input");

  function renderTags(tags) {
    tagList.replaceChildren(...(tags.length
      ? tags.map((tag) => h("span", { class: "chip" }, tag,
          h("button", { type: "button", "aria-label": "Remove tag " + tag, onclick: () => changeTags({ remove: [tag] }) }, "×")))
      : [h("span", { class: "muted" }, "No tags yet.")]));
  }

  async function changeTags(change) {
    try {
      const result = await fetchJSON(state.tags_url, { method: "POST", json: Object.assign({ add: [], remove: [] }, change) });
      renderTags(result.tags || []);
    } catch (err) {
      window.alert(err.message);
    }
  }

  tagForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const tag = tagInput.value.trim();
    if (!tag) return;
    tagInput.value = "";
    changeTags({ add: [tag] });
  });
  renderTags(Array.from(tagList.querySelectorAll(".chip")).map((chip) => chip.textContent));

  loadPeaks();
  loadDoctor();
})();
