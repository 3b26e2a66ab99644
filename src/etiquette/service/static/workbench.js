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
    r.addEventListener("click", function (e) { if (e.target.tagName !== "A") { window.location = r.dataset.href; } });
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
