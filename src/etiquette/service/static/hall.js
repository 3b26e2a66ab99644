// 大厅态势: the hall page subscribes to /api/v1/hall/stream (server-sent events) and redraws
// one tile per window from each `hall` event. The server recomputes the hall every few
// seconds, so a window whose heartbeat stops turns red here without any other event.
// Built with DOM calls and textContent only: no inline script or style (CSP), no HTML
// from the data.
(function () {
  "use strict";
  var root = document.getElementById("hall");
  if (!root || !window.EventSource) { return; }
  var connection = document.getElementById("hall-connection");
  var zone = root.dataset.timezone || undefined;
  var clock = new Intl.DateTimeFormat("zh-CN", {
    timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = text; }
    return e;
  }

  function duration(s) {
    s = Math.round(s);
    if (s < 60) { return s + " 秒"; }
    if (s < 3600) { return Math.floor(s / 60) + " 分 " + (s % 60) + " 秒"; }
    return Math.floor(s / 3600) + " 小时 " + Math.floor((s % 3600) / 60) + " 分";
  }

  function row(dl, name, value, cls) {
    dl.appendChild(el("dt", null, name));
    var dd = el("dd", cls || null);
    if (typeof value === "string") { dd.textContent = value; } else { dd.appendChild(value); }
    dl.appendChild(dd);
  }

  function seat(w) {
    if (!w.camera) { return "无摄像头"; }
    var text = w.seat_name;
    if (w.seat !== "unknown" && w.seat_for_s !== null) { text += " · " + duration(w.seat_for_s); }
    return text;
  }

  function microphone(w) {
    if (!w.audio) { return el("span", "muted", "无麦克风"); }
    var span = el("span", null, (w.audio.state === "ok" ? "正常 " : w.audio.state === "down" ? "断开 " : "异常 ") +
      w.audio.level_dbfs.toFixed(1) + " dBFS");
    // The level on a 60 dB scale (−60 dBFS: silence for a meter).
    var meter = el("meter", "hall-level");
    meter.min = 0; meter.max = 60; meter.low = 15; meter.high = 54; meter.optimum = 30;
    meter.value = Math.max(0, Math.min(60, 60 + w.audio.level_dbfs));
    meter.title = "音量";
    var box = el("span");
    box.appendChild(span); box.appendChild(meter);
    return box;
  }

  function camera(w) {
    if (!w.camera) { return "无摄像头"; }
    return (w.camera.fps > 0 ? "正常 " : "无画面 ") + w.camera.fps.toFixed(1) + " 帧/秒";
  }

  function lastIncident(w) {
    if (!w.last_incident) { return "今日无"; }
    var i = w.last_incident;
    var a = el("a", "sev-" + i.severity, i.kind_name + " · " + clock.format(new Date(i.at)));
    a.href = i.url;
    a.title = i.rule_name;
    return a;
  }

  function todayCounts(w, names) {
    if (!w.today_total) { return "0"; }
    var parts = Object.keys(names).filter(function (k) { return w.today[k]; })
      .map(function (k) { return names[k] + " " + w.today[k]; });
    return parts.join(" · ") + "（共 " + w.today_total + "）";
  }

  function tile(w, names) {
    var t = el("article", "hall-tile hall-" + w.status + (w.stale ? " hall-stale" : ""));
    t.dataset.window = w.code;
    t.dataset.status = w.status;
    var head = el("header");
    head.appendChild(el("span", "hall-number", w.number + " 号窗口"));
    head.appendChild(el("span", "hall-status", w.status_name));
    t.appendChild(head);
    t.appendChild(el("div", "hall-dept", [w.department, w.staff_name].filter(Boolean).join(" · ") || w.code));
    if (w.reasons.length) { t.appendChild(el("p", "hall-reasons", w.reasons.join("，"))); }
    if (w.status !== "offline") {
      var dl = el("dl");
      row(dl, "人员", seat(w), w.seat === "absent" ? "hall-away" : null);
      row(dl, "麦克风", microphone(w));
      row(dl, "摄像头", camera(w));
      row(dl, "办理", w.session_open ? "服务中" : "空闲");
      row(dl, "最近事件", lastIncident(w));
      row(dl, "今日事件", todayCounts(w, names));
      t.appendChild(dl);
      t.appendChild(el("footer", "muted", "心跳 " + clock.format(new Date(w.last_beat_at)) +
        "（" + duration(w.beat_age_s) + "前）"));
    } else {
      t.appendChild(el("footer", "muted", "尚未收到该窗口的心跳 · 今日事件 " + w.today_total));
    }
    return t;
  }

  function render(hall) {
    var frag = document.createDocumentFragment();
    if (!hall.centers.length) { frag.appendChild(el("p", "muted", "尚无窗口：请先在主数据中添加中心和窗口")); }
    hall.centers.forEach(function (c) {
      var section = el("section", "hall-center");
      section.dataset.center = c.code;
      var h = el("h2", null, c.name);
      h.appendChild(el("small", null, "正常 " + c.counts.ok + " · 注意 " + c.counts.warn +
        " · 异常 " + c.counts.alert + " · 未接入 " + c.counts.offline));
      section.appendChild(h);
      var grid = el("div", "hall-grid");
      c.windows.forEach(function (w) { grid.appendChild(tile(w, hall.kind_names)); });
      section.appendChild(grid);
      frag.appendChild(section);
    });
    root.replaceChildren(frag);
    connection.textContent = "更新于 " + clock.format(new Date(hall.at));
    connection.className = "muted";
  }

  var source = new EventSource(root.dataset.stream);
  source.addEventListener("hall", function (e) { render(JSON.parse(e.data)); });
  source.addEventListener("error", function () {
    connection.textContent = "与服务器的连接中断，正在重连…";
    connection.className = "error";
  });
})();
