// Draws the report's charts with ECharts from the options the server put in each chart's
// data-chart attribute (the page runs no inline script). SVG renderer: sharp on screen and on
// paper. Charts follow the page's width, printing included. Without ECharts (not fetched at
// set-up) the note in each box stays: the tables below carry the same numbers.
(function () {
  "use strict";
  var boxes = Array.prototype.slice.call(document.querySelectorAll("[data-chart]"));
  if (!boxes.length || !window.echarts) { return; }
  var charts = boxes.map(function (el) {
    el.style.height = el.dataset.height + "px";
    el.textContent = "";
    var chart = window.echarts.init(el, null, { renderer: "svg", locale: "ZH" });
    chart.setOption(JSON.parse(el.dataset.chart));
    return chart;
  });
  function resize() { charts.forEach(function (c) { c.resize(); }); }
  window.addEventListener("resize", resize);
  window.addEventListener("beforeprint", resize);
  window.addEventListener("afterprint", resize);
  if (window.matchMedia) {
    var print = window.matchMedia("print");
    if (print.addEventListener) { print.addEventListener("change", resize); }
  }
})();
