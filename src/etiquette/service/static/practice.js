// The practice page: record a phrase in the browser (MediaRecorder), send it to the service,
// show what was heard. No library: getUserMedia, MediaRecorder and fetch.
(function () {
  "use strict";
  var root = document.getElementById("practice");
  if (!root) { return; }
  var csrf = root.dataset.csrf;
  var recorder = null;
  var MAX_MS = 15000;

  function show(section, result) {
    var box = section.querySelector(".verdict");
    box.hidden = false;
    box.className = "verdict " + (result.recognised ? "ok" : "missed");
    box.textContent = "";
    var head = document.createElement("strong");
    head.textContent = result.recognised ? "识别通过：说出了这句规范用语" : "未识别出这句规范用语";
    var heard = document.createElement("p");
    heard.textContent = "听到：" + (result.transcript || "（没有听到说话）");
    box.appendChild(head); box.appendChild(heard);
    if (result.missed.length) {
      var missed = document.createElement("p");
      missed.className = "missed-words";
      missed.textContent = "没听到的字词：" + result.missed.join("、");
      box.appendChild(missed);
    }
    var row = document.createElement("tr");
    [window.etiquetteTime(result.created_at), section.dataset.name || result.rule_id, result.recognised ? "通过" : "未识别",
     result.transcript, result.missed.join("、")].forEach(function (t) {
      var td = document.createElement("td"); td.textContent = t; row.appendChild(td);
    });
    var body = document.querySelector("#practice-history tbody");
    body.insertBefore(row, body.firstChild);
  }

  function send(section, rule, blob) {
    var status = section.querySelector(".status");
    status.textContent = "正在识别…";
    var form = new FormData();
    form.append("rule_id", rule);
    form.append("audio", blob, "practice.webm");
    fetch("/api/v1/practice/attempts", { method: "POST", body: form, credentials: "same-origin",
                                         headers: { "X-CSRF-Token": csrf } })
      .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
      .then(function (res) {
        if (!res[0]) { status.textContent = "出错了：" + (res[1].detail || "请重试"); return; }
        status.textContent = "";
        show(section, res[1]);
      })
      .catch(function () { status.textContent = "网络错误，请重试"; });
  }

  function start(button) {
    var section = button.closest(".phrase");
    var rule = button.dataset.rule;
    navigator.mediaDevices.getUserMedia({ audio: true }).then(function (stream) {
      var chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.ondataavailable = function (e) { if (e.data.size) { chunks.push(e.data); } };
      recorder.onstop = function () {
        stream.getTracks().forEach(function (t) { t.stop(); });
        button.textContent = "开始录音";
        recorder = null;
        send(section, rule, new Blob(chunks, { type: chunks.length ? chunks[0].type : "audio/webm" }));
      };
      recorder.start();
      button.textContent = "结束";
      section.querySelector(".status").textContent = "正在录音…";
      setTimeout(function () { if (recorder && recorder.state === "recording") { recorder.stop(); } }, MAX_MS);
    }).catch(function () {
      section.querySelector(".status").textContent = "无法使用麦克风：请允许浏览器使用麦克风";
    });
  }

  root.addEventListener("click", function (e) {
    var button = e.target.closest("button.record");
    if (!button) { return; }
    if (recorder) { recorder.stop(); } else { start(button); }
  });
})();
