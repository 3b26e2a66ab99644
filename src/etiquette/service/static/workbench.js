// Times written in the browser (toasts, practice results) in the center's zone, which the
// server puts on <body>, as the server writes them on its pages: 2026-12-03 10:00:00.
window.etiquetteTime = function (iso, timeOnly) {
  var parts = {};
  new Intl.DateTimeFormat("en-CA", {
    timeZone: document.body.dataset.timezone || undefined, hourCycle: "h23", year: "numeric",
    month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit"
  }).formatToParts(new Date(iso)).forEach(function (p) { parts[p.type] = p.value; });
  var time = parts.hour + ":" + parts.minute + ":" + parts.second;
  return timeOnly ? time : parts.year + "-" + parts.month + "-" + parts.day + " " + time;
};

// Keyboard shortcuts for a reviewer working through a queue. No library: a few handlers.
(function () {
  "use strict";
  function typing(e) {
    var t = e.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
  }
  function go(id) { var a = document.getElementById(id); if (a) { window.location = a.href; } }
  var rows = Array.prototype.slice.call(document.querySelectorAll("#incident-list tr[data-href]"));
  var selected = rows.length ? 0 : -1;
  function select(i) {
    if (!rows.length) { return; }
    selected = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach(function (r, k) { r.classList.toggle("selected", k === selected); });
    rows[selected].scrollIntoView({ block: "nearest" });
  }
  rows.forEach(function (r) {
    r.addEventListener("click", function (e) {
      // A click on the link follows it; one on the checkbox (or its cell) only checks it.
      if (e.target.tagName !== "A" && e.target.tagName !== "INPUT" && !e.target.classList.contains("check")) {
        window.location = r.dataset.href;
      }
    });
  });
  if (rows.length) { select(0); }
  document.addEventListener("keydown", function (e) {
    var help = document.getElementById("help");
    if (e.key === "Escape") { help.hidden = true; if (typing(e)) { e.target.blur(); } return; }
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) { return; }
    var clip = document.getElementById("clip");
    switch (e.key) {
      case "?": help.hidden = !help.hidden; break;
      case "j": if (rows.length) { select(selected + 1); } else { go("next-link"); } break;
      case "k": if (rows.length) { select(selected - 1); } else { go("back-link"); } break;
      case "Enter": if (rows.length && selected >= 0) { window.location = rows[selected].dataset.href; } break;
      case " ": if (clip) { e.preventDefault(); if (clip.paused) { clip.play(); } else { clip.pause(); } } break;
      case "c": var f = document.getElementById("confirm-form"); if (f) { f.submit(); } break;
      case "d": var r = document.getElementById("dismiss-reason"); if (r) { e.preventDefault(); r.focus(); } break;
      default: return;
    }
  });
})();

// Buttons that print the page (the report): a handler here, not an inline onclick, which the
// Content-Security-Policy forbids.
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("button[data-print]"), function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
})();

// Alerts: a supervisor's pages subscribe to critical incidents (server-sent events) and show
// each as a toast linking to the incident. The checkbox in the header turns it off per browser.
(function () {
  "use strict";
  if (document.body.dataset.alerts !== "1" || !window.EventSource) { return; }
  var toggle = document.getElementById("alerts-toggle");
  var box = document.getElementById("toasts");
  var source = null;
  function toast(a) {
    var div = document.createElement("div");
    div.className = "toast";
    div.setAttribute("role", "alert");
    var title = document.createElement("a");
    title.href = a.url;
    title.textContent = "【" + a.severity_name + "】" + (a.center || "") + " " +
      (a.window_number ? a.window_number + " 号窗口" : a.window_id);
    var text = document.createElement("div");
    text.textContent = a.title + "（" + window.etiquetteTime(a.at, true) + "）";
    var close = document.createElement("button");
    close.type = "button";
    close.textContent = "×";
    close.title = "关闭";
    close.addEventListener("click", function () { div.remove(); });
    div.appendChild(title); div.appendChild(text); div.appendChild(close);
    box.prepend(div);
  }
  // Moving from page to page reconnects: the new stream starts where the last page's ended,
  // and an incident already shown is not shown again.
  var shown = JSON.parse(sessionStorage.getItem("etiquette-alerts-shown") || "[]");
  function mark() { sessionStorage.setItem("etiquette-alerts-since", new Date().toISOString()); }
  function start() {
    if (source) { return; }
    var since = sessionStorage.getItem("etiquette-alerts-since");
    source = new EventSource("/api/v1/alerts/stream" + (since ? "?since=" + encodeURIComponent(since) : ""));
    source.addEventListener("open", mark);
    source.addEventListener("incident", function (e) {
      var a = JSON.parse(e.data);
      mark();
      if (shown.indexOf(a.id) >= 0) { return; }
      shown = shown.concat([a.id]).slice(-100);
      sessionStorage.setItem("etiquette-alerts-shown", JSON.stringify(shown));
      toast(a);
    });
    setInterval(function () { if (source && source.readyState === 1) { mark(); } }, 5000);
    window.addEventListener("pagehide", function () { if (source) { mark(); } });
  }
  function stop() { if (source) { source.close(); source = null; } }
  var on = localStorage.getItem("etiquette-alerts") !== "off";
  toggle.checked = on;
  if (on) { start(); }
  toggle.addEventListener("change", function () {
    localStorage.setItem("etiquette-alerts", toggle.checked ? "on" : "off");
    if (toggle.checked) { start(); } else { stop(); }
  });
})();

// Forms that cannot be undone (revoking a key) ask first: data-confirm holds the question.
(function () {
  "use strict";
  document.addEventListener("submit", function (e) {
    var question = e.target.dataset ? e.target.dataset.confirm : null;
    if (question && !window.confirm(question)) { e.preventDefault(); }
  });
})();

// The queue: check incidents for one decision (a dismissal needs its reason), and keep the
// menu's counts and the list current: the page asks every few seconds how much work waits and
// how many incidents of its filters arrived since it was drawn.
(function () {
  "use strict";
  var form = document.getElementById("bulk-form");
  if (form) {
    var boxes = Array.prototype.slice.call(form.querySelectorAll("input[name=ids]"));
    var all = document.getElementById("select-all");
    var shown = document.getElementById("bulk-count");
    var reason = document.getElementById("bulk-reason");
    var count = function () { shown.textContent = boxes.filter(function (b) { return b.checked; }).length; };
    boxes.forEach(function (b) { b.addEventListener("change", count); });
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
      count();
    });
    document.getElementById("bulk-dismiss").addEventListener("click", function () { reason.required = true; });
    document.getElementById("bulk-confirm").addEventListener("click", function () { reason.required = false; });
    form.addEventListener("submit", function (e) {
      if (!boxes.some(function (b) { return b.checked; })) { e.preventDefault(); window.alert("请先勾选要处理的事件"); }
    });
  }
  var nav = document.getElementById("nav-pending");
  if (!nav || !nav.dataset.pollS || !window.fetch) { return; }
  var list = document.getElementById("incident-list");
  var url = list && list.dataset.counts ? list.dataset.counts : "/api/v1/incidents/counts";
  function set(id, value) {
    var el = document.getElementById(id);
    if (el && value !== null && value !== undefined) { el.textContent = value; }
  }
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) {
        if (!c) { return; }
        set("pending-count", c.pending);
        set("appeals-count", c.appealed);
        if (c.new) {
          set("new-count", c.new);
          document.getElementById("new-incidents").hidden = false;
        }
      })
      .catch(function () { /* the next poll tries again */ });
  }
  setInterval(poll, parseFloat(nav.dataset.pollS) * 1000);
})();
