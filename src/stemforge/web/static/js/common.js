/* stemforge: small helpers shared by the pages (no framework, no build step).
   Everything from the server is put into the page as text (textContent), never as HTML. */
(function () {
  "use strict";

  /** An Error carrying the API's JSON error: {error, message, hint} and the HTTP status. */
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || "The server answered " + status + ".");
      this.status = status;
      this.error = (body && body.error) || "HTTPError";
      this.hint = (body && body.hint) || null;
    }
  }

  function parseError(status, text) {
    let body = null;
    try { body = JSON.parse(text); } catch (_) { body = null; }
    if (body && typeof body.detail === "string" && !body.message) body = { message: body.detail };
    return new ApiError(status, body);
  }

  /** fetch() that returns parsed JSON or throws an ApiError with the server's message. */
  async function fetchJSON(url, options) {
    const opts = Object.assign({ headers: {}, credentials: "same-origin" }, options || {});
    opts.headers = Object.assign({ Accept: "application/json" }, opts.headers);
    if (opts.json !== undefined) {
      opts.body = JSON.stringify(opts.json);
      opts.headers["Content-Type"] = "application/json";
      delete opts.json;
    }
    let response;
    try {
      response = await fetch(url, opts);
    } catch (err) {
      if (err && err.name === "AbortError") throw err;
      throw new ApiError(0, { message: "The server cannot be reached.", hint: "Is `stemforge serve` still running?" });
    }
    if (response.status === 401 && document.body.dataset.mode === "server" && !url.startsWith("/api/login")) {
      window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
    }
    const text = await response.text();
    if (!response.ok) throw parseError(response.status, text);
    return text ? JSON.parse(text) : null;
  }

  /** Show an error (an ApiError or any Error) in a box; hide the box with null. */
  function showError(box, err) {
    if (!box) return;
    box.textContent = "";
    if (!err) { box.hidden = true; return; }
    box.append(document.createTextNode(err.message || String(err)));
    if (err.hint) {
      const hint = document.createElement("span");
      hint.className = "hint";
      hint.textContent = err.hint;
      box.append(hint);
    }
    box.hidden = false;
  }

  /** Make an element: h("a", {href: "/", class: "x"}, "text", child, ...). */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "dataset") Object.assign(node.dataset, value);
      else if (name === "style") node.setAttribute("style", value);
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const DASH = "–";
  function finite(x) { return typeof x === "number" && Number.isFinite(x); }
  function fmtBpm(x) { return finite(x) ? x.toFixed(1) : DASH; }
  function fmtLufs(x) { return finite(x) ? x.toFixed(1).replace("-", "−") : DASH; }
  function fmtDuration(x) {
    if (!finite(x) || x < 0) return DASH;
    const total = Math.round(x);
    const hours = Math.floor(total / 3600), minutes = Math.floor((total % 3600) / 60), seconds = total % 60;
    const ss = String(seconds).padStart(2, "0");
    return hours ? hours + ":" + String(minutes).padStart(2, "0") + ":" + ss : minutes + ":" + ss;
  }
  /** Seconds with tenths for a playhead: 1:05.3 */
  function fmtClock(x) {
    if (!finite(x) || x < 0) return "0:00";
    const minutes = Math.floor(x / 60), seconds = x - minutes * 60;
    return minutes + ":" + seconds.toFixed(1).padStart(4, "0");
  }
  function fmtBytes(n) {
    if (!finite(n)) return "";
    const units = ["bytes", "KB", "MB", "GB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return i === 0 ? n + " bytes" : n.toFixed(1) + " " + units[i];
  }
  /** Same colours as pages.camelot_style: one hue per wheel number, minor keys lighter. */
  function camelotStyle(code) {
    const m = /^(1[0-2]|[1-9])([AB])$/.exec(code || "");
    if (!m) return "background: #6b7280";
    return "background: hsl(" + (Number(m[1]) - 1) * 30 + " 62% " + (m[2] === "A" ? 44 : 34) + "%)";
  }

  function debounce(fn, waitMs) {
    let timer = null;
    return function (...args) {
      clearTimeout(timer);
      timer = setTimeout(() => fn.apply(this, args), waitMs);
    };
  }

  function readState(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : {};
  }

  // --- login and logout (server mode) -------------------------------------------------
  function wireAuth() {
    const logout = document.getElementById("logout");
    if (logout) {
      logout.addEventListener("click", async () => {
        try { await fetchJSON("/api/logout", { method: "POST" }); } catch (_) { /* gone anyway */ }
        window.location.assign("/login");
      });
    }
    const form = document.getElementById("login-form");
    if (form) {
      const box = document.getElementById("login-error");
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        showError(box, null);
        const button = form.querySelector("button[type=submit]");
        button.disabled = true;
        try {
          await fetchJSON("/api/login", {
            method: "POST",
            json: { username: form.username.value, password: form.password.value },
          });
          const next = form.dataset.next || "/";
          window.location.assign(next.startsWith("/") && !next.startsWith("//") ? next : "/");
        } catch (err) {
          showError(box, err.status === 401 ? { message: "Wrong user name or password." } : err);
          button.disabled = false;
          form.password.select();
        }
      });
    }
  }
  document.addEventListener("DOMContentLoaded", wireAuth);

  window.SF = {
    ApiError, fetchJSON, showError, h, finite, fmtBpm, fmtLufs, fmtDuration, fmtClock, fmtBytes,
    camelotStyle, debounce, readState,
  };
})();
