"""The small renderer behind ember's self-contained HTML pages (autograd graphs and learning curves).

One vanilla-JavaScript library (``JS``), inlined into every page: SVG helpers, pan/zoom on an SVG
group, a hover tooltip, ``renderGraphs`` (boxes and edges laid out by Python) and ``renderCharts``
(line charts with log/linear axes, series toggles, hover readout). No server, no network, no
dependencies. A page sets ``document.body.dataset.rendered = "ok"`` once drawn and records script
errors in ``data-errors`` (the headless-browser test reads both).
"""
from __future__ import annotations

CHAR_W = 6.6  # monospace 11px
LINE_H = 14


def text_size(label):
    lines = str(label).split("\n")
    return max(len(s) for s in lines) * CHAR_W, len(lines) * LINE_H


CSS = r"""
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 16px; color: #222; }
h1 { font-size: 18px; margin: 0 0 8px 0; }
.panels { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.panel { border: 1px solid #ccc; border-radius: 4px; background: #fff; }
.panel h2 { font-size: 14px; margin: 6px 10px; }
.panel svg { display: block; cursor: grab; touch-action: none; }
.panel svg.dragging { cursor: grabbing; }
.hint { color: #666; font-size: 12px; }
.tip { position: fixed; pointer-events: none; background: rgba(255,255,255,0.97); border: 1px solid #999;
       border-radius: 4px; padding: 6px 8px; font: 12px monospace; max-width: 640px; white-space: pre-wrap;
       box-shadow: 0 2px 6px rgba(0,0,0,0.2); display: none; z-index: 10; }
.tip b { font-family: system-ui, sans-serif; }
.node text { font: 11px monospace; pointer-events: none; }
.node rect { stroke: #555; stroke-width: 1; }
.node:hover rect { stroke: #000; stroke-width: 2; }
.edge { fill: none; stroke: #666; stroke-width: 1.2; }
.chart-wrap { display: flex; gap: 8px; align-items: flex-start; }
.legend { font-size: 12px; min-width: 150px; max-width: 260px; }
.legend label { display: flex; align-items: center; gap: 6px; margin: 3px 0; cursor: pointer; word-break: break-all; }
.swatch { display: inline-block; width: 22px; height: 0; border-top-width: 3px; border-top-style: solid; flex: none; }
.controls { font-size: 12px; margin: 4px 10px; display: flex; gap: 10px; align-items: center; }
.axis text { font-size: 11px; fill: #444; }
.axis line, .axis path { stroke: #999; }
.grid line { stroke: #eee; }
table.metrics { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
table.metrics td, table.metrics th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; }
"""

JS = r"""
var EmberView = (function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  function el(tag, attrs, parent) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) { if (attrs[k] !== undefined && attrs[k] !== null) e.setAttribute(k, attrs[k]); }
    if (parent) parent.appendChild(e);
    return e;
  }
  function h(tag, attrs, parent, text) {
    var e = document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function esc(s) {
    return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  var tipEl = null;
  function tip() {
    if (!tipEl) { tipEl = h("div", {"class": "tip"}, document.body); }
    return tipEl;
  }
  function showTip(html, ev) {
    var t = tip();
    t.innerHTML = html;
    t.style.display = "block";
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var r = t.getBoundingClientRect();
    if (x + r.width > window.innerWidth) x = Math.max(0, ev.clientX - r.width - 14);
    if (y + r.height > window.innerHeight) y = Math.max(0, ev.clientY - r.height - 14);
    t.style.left = x + "px"; t.style.top = y + "px";
  }
  function hideTip() { if (tipEl) tipEl.style.display = "none"; }

  // Pan (drag) and zoom (wheel) by changing a view box {x, y, k}; onChange(view) redraws or transforms.
  function panZoom(svg, view, onChange, opts) {
    opts = opts || {};
    var home = {x: view.x, y: view.y, k: view.k};
    var drag = null;
    function pt(ev) {
      var r = svg.getBoundingClientRect();
      return {x: ev.clientX - r.left, y: ev.clientY - r.top};
    }
    svg.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var p = pt(ev);
      if (opts.inside && !opts.inside(p)) return;
      var f = Math.exp(-ev.deltaY * 0.0015);
      var k = Math.min(opts.maxK || 50, Math.max(opts.minK || 0.05, view.k * f));
      f = k / view.k;
      view.x = p.x - (p.x - view.x) * f;
      view.y = p.y - (p.y - view.y) * f;
      view.k = k;
      onChange(view);
    }, {passive: false});
    svg.addEventListener("pointerdown", function (ev) {
      if (ev.button !== 0) return;
      drag = {p: pt(ev), x: view.x, y: view.y};
      svg.classList.add("dragging");
      if (svg.setPointerCapture) { try { svg.setPointerCapture(ev.pointerId); } catch (e) { /* ignore */ } }
    });
    svg.addEventListener("pointermove", function (ev) {
      if (!drag) return;
      var p = pt(ev);
      view.x = drag.x + (p.x - drag.p.x);
      view.y = drag.y + (p.y - drag.p.y);
      onChange(view);
    });
    function end() { drag = null; svg.classList.remove("dragging"); }
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointerleave", end);
    svg.addEventListener("dblclick", function () {
      view.x = home.x; view.y = home.y; view.k = home.k; onChange(view);
    });
    return {reset: function () { view.x = home.x; view.y = home.y; view.k = home.k; onChange(view); }};
  }

  // ------------------------------------------------------------------ autograd graphs
  function detailsHtml(d) {
    var s = "";
    for (var k in d) {
      var v = d[k];
      if (Array.isArray(v)) v = v.join("\n  ");
      if (k === "created at") s += "<b>" + esc(k) + "</b>\n" + esc(v) + "\n";
      else s += "<b>" + esc(k) + "</b>: " + esc(v) + "\n";
    }
    return s;
  }
  function renderGraph(panel, g) {
    var W = Math.min(Math.max(g.width, 320), 900), H = Math.min(Math.max(g.height, 200), 760);
    var svg = el("svg", {width: W, height: H, viewBox: "0 0 " + W + " " + H}, panel);
    var defs = el("defs", {}, svg);
    var mk = el("marker", {id: "arrow" + (renderGraph.n = (renderGraph.n || 0) + 1), viewBox: "0 0 10 10", refX: 10,
                           refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse"}, defs);
    el("path", {d: "M0,0 L10,5 L0,10 z", fill: "#666"}, mk);
    var root = el("g", {}, svg);
    var byId = {};
    g.nodes.forEach(function (n) { byId[n.id] = n; });
    g.edges.forEach(function (e) {
      var a = byId[e.from], b = byId[e.to];
      if (!a || !b) return;
      var x1, y1, x2, y2;
      if (!e.arrow) {  // a saved value: from the value's box down to its op
        var t = a; a = b; b = t;
      }
      x1 = a.x + a.w / 2; y1 = a.y + a.h; x2 = b.x + b.w / 2; y2 = b.y;
      if (y2 < y1) { y1 = a.y; y2 = b.y + b.h; }
      var my = (y1 + y2) / 2;
      el("path", {"class": "edge", d: "M" + x1 + "," + y1 + " C" + x1 + "," + my + " " + x2 + "," + my + " " + x2 + "," + y2,
                  "stroke-dasharray": e.style === "dotted" ? "2,3" : (e.arrow ? null : "4,3"),
                  "marker-end": e.arrow ? "url(#" + mk.id + ")" : null}, root);
    });
    g.nodes.forEach(function (n) {
      var gn = el("g", {"class": "node node-" + n.kind, transform: "translate(" + n.x + "," + n.y + ")"}, root);
      el("rect", {width: n.w, height: n.h, rx: 3, fill: n.fill === "darkolivegreen1" ? "#caff70" :
                  (n.fill === "darkolivegreen3" ? "#a2cd5a" : n.fill)}, gn);
      var lines = String(n.label).split("\n");
      lines.forEach(function (line, i) {
        var t = el("text", {x: 8, y: 5 + 14 * (i + 1) - 3}, gn);
        t.textContent = line;
      });
      gn.addEventListener("mousemove", function (ev) { showTip(detailsHtml(n.details), ev); });
      gn.addEventListener("mouseleave", hideTip);
    });
    var k0 = Math.min(1, W / g.width, H / g.height);
    var view = {x: (W - g.width * k0) / 2, y: Math.max(0, (H - g.height * k0) / 2), k: k0};
    function apply(v) { root.setAttribute("transform", "translate(" + v.x + "," + v.y + ") scale(" + v.k + ")"); }
    apply(view);
    panZoom(svg, view, apply);
    return svg;
  }
  function renderGraphs(container, panels) {
    panels.forEach(function (p) {
      var panel = h("div", {"class": "panel"}, container);
      if (p.caption) h("h2", {}, panel, p.caption);
      renderGraph(panel, p.graph);
    });
    done();
  }

  // ------------------------------------------------------------------ charts
  function niceStep(span, n) {
    var raw = span / Math.max(n, 1), p = Math.pow(10, Math.floor(Math.log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * p;
  }
  function fmt(v) {
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 1e5 || a < 1e-3) return v.toExponential(1).replace("e+", "e");
    return String(parseFloat(v.toPrecision(4)));
  }
  function linTicks(lo, hi, n) {
    var st = niceStep(hi - lo || Math.abs(hi) || 1, n), out = [];
    for (var v = Math.ceil(lo / st) * st; v <= hi + st * 1e-9; v += st) out.push(Math.abs(v) < st * 1e-9 ? 0 : v);
    return out;
  }
  function logTicks(lo, hi) {
    var out = [], a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi));
    var mult = (b - a) <= 2 ? [1, 2, 5] : [1];
    for (var e = a; e <= b; e++) mult.forEach(function (m) { var v = m * Math.pow(10, e); if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v); });
    if (out.length < 2) return linTicks(lo, hi, 4);
    return out;
  }
  // chart = {title, xlabel, ylabel, log (default axis), series: [{name, kind: "step"|"epoch"|"test",
  //          x: [...], y: [...], step: [...], epoch: [...], color, dash}]}
  function renderChart(container, chart) {
    var panel = h("div", {"class": "panel chart"}, container);
    h("h2", {}, panel, chart.title);
    var ctr = h("div", {"class": "controls"}, panel);
    var logLab = h("label", {}, ctr);
    var logBox = h("input", {type: "checkbox"}, logLab);
    logLab.appendChild(document.createTextNode(" log y"));
    var canLog = chart.series.some(function (s) { return s.y.some(function (v) { return v > 0; }); });
    logBox.checked = !!chart.log && canLog;
    logBox.disabled = !canLog;
    var resetBtn = h("button", {type: "button"}, ctr, "reset zoom");
    var wrap = h("div", {"class": "chart-wrap"}, panel);
    var W = 560, H = 320, M = {l: 64, r: 12, t: 10, b: 44};
    var svg = el("svg", {width: W, height: H}, wrap);
    var legend = h("div", {"class": "legend"}, wrap);
    var on = chart.series.map(function () { return true; });
    chart.series.forEach(function (s, i) {
      var lab = h("label", {}, legend);
      var cb = h("input", {type: "checkbox"}, lab);
      cb.checked = true;
      var sw = h("span", {"class": "swatch"}, lab);
      sw.style.borderTopColor = s.color;
      sw.style.borderTopStyle = s.dash ? "dashed" : "solid";
      if (s.kind === "test") sw.style.borderTopStyle = "dotted";
      lab.appendChild(document.createTextNode(s.name));
      cb.addEventListener("change", function () { on[i] = cb.checked; draw(); });
    });
    var clipId = "clip" + (renderChart.n = (renderChart.n || 0) + 1);
    var cp = el("clipPath", {id: clipId}, el("defs", {}, svg));
    el("rect", {x: M.l, y: M.t, width: W - M.l - M.r, height: H - M.t - M.b}, cp);
    var layer = el("g", {}, svg);
    var hover = el("g", {}, svg);
    var view = {x: 0, y: 0, k: 1};  // zoom of the data window: x offset (px), y offset (px), scale
    function extent(log) {
      var x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      chart.series.forEach(function (s, i) {
        if (!on[i]) return;
        s.x.forEach(function (x, j) {
          var y = s.y[j];
          if (!isFinite(y) || (log && y <= 0)) return;
          x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
        });
      });
      if (!isFinite(x0)) { x0 = 0; x1 = 1; y0 = log ? 0.1 : 0; y1 = 1; }
      if (x1 === x0) { x0 -= 1; x1 += 1; }
      if (y1 === y0) { if (log) { y0 /= 2; y1 *= 2; } else { var d = Math.abs(y0) * 0.1 || 1; y0 -= d; y1 += d; } }
      else if (!log) { var pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad; }
      return {x0: x0, x1: x1, y0: y0, y1: y1};
    }
    var sx, sy, ex, log;
    function draw() {
      while (layer.firstChild) layer.removeChild(layer.firstChild);
      log = logBox.checked;
      ex = extent(log);
      var pw = W - M.l - M.r, ph = H - M.t - M.b;
      var fy = log ? function (v) { return Math.log10(v); } : function (v) { return v; };
      var ly0 = fy(ex.y0), ly1 = fy(ex.y1);
      sx = function (x) { return M.l + view.x + (x - ex.x0) / (ex.x1 - ex.x0) * pw * view.k; };
      sy = function (y) { return M.t + view.y + ph - (fy(y) - ly0) / (ly1 - ly0) * ph * view.k; };
      var ix = function (px) { return ex.x0 + (px - M.l - view.x) / (pw * view.k) * (ex.x1 - ex.x0); };
      var iy = function (py) { var f = ly0 + (M.t + view.y + ph - py) / (ph * view.k) * (ly1 - ly0); return log ? Math.pow(10, f) : f; };
      var vx0 = ix(M.l), vx1 = ix(M.l + pw), vy0 = iy(M.t + ph), vy1 = iy(M.t);
      var grid = el("g", {"class": "grid"}, layer), axis = el("g", {"class": "axis"}, layer);
      var xt = linTicks(vx0, vx1, 6);
      if (chart.integerX) xt = xt.filter(function (v) { return Math.abs(v - Math.round(v)) < 1e-9; });
      xt.forEach(function (v) {
        var px = sx(v);
        el("line", {x1: px, x2: px, y1: M.t, y2: M.t + ph}, grid);
        el("line", {x1: px, x2: px, y1: M.t + ph, y2: M.t + ph + 4}, axis);
        el("text", {x: px, y: M.t + ph + 16, "text-anchor": "middle"}, axis).textContent = fmt(v);
      });
      var yt = log ? logTicks(vy0, vy1) : linTicks(vy0, vy1, 5);
      yt.forEach(function (v) {
        var py = sy(v);
        el("line", {x1: M.l, x2: M.l + pw, y1: py, y2: py}, grid);
        el("line", {x1: M.l - 4, x2: M.l, y1: py, y2: py}, axis);
        el("text", {x: M.l - 6, y: py + 4, "text-anchor": "end"}, axis).textContent = fmt(v);
      });
      el("rect", {x: M.l, y: M.t, width: pw, height: ph, fill: "none", stroke: "#999"}, axis);
      el("text", {x: M.l + pw / 2, y: H - 8, "text-anchor": "middle"}, axis).textContent = chart.xlabel || "step";
      el("text", {x: 14, y: M.t + ph / 2, "text-anchor": "middle", transform: "rotate(-90 14 " + (M.t + ph / 2) + ")"},
         axis).textContent = (chart.ylabel || "value") + (log ? " (log)" : "");
      var data = el("g", {"clip-path": "url(#" + clipId + ")"}, layer);
      chart.series.forEach(function (s, i) {
        if (!on[i]) return;
        var d = "", pen = false;
        s.x.forEach(function (x, j) {
          var y = s.y[j];
          if (!isFinite(y) || (log && y <= 0)) { pen = false; return; }
          d += (pen ? "L" : "M") + sx(x).toFixed(1) + "," + sy(y).toFixed(1);
          pen = true;
        });
        if (s.x.length > 1) el("path", {d: d, fill: "none", stroke: s.color, "stroke-width": s.kind === "step" ? 1.5 : 2.2,
                                        "stroke-dasharray": s.dash ? "6,3" : null}, data);
        if (s.kind !== "step" || s.x.length < 40) s.x.forEach(function (x, j) {
          var y = s.y[j];
          if (!isFinite(y) || (log && y <= 0)) return;
          if (s.kind === "test") el("rect", {x: sx(x) - 4, y: sy(y) - 4, width: 8, height: 8, fill: "#fff", stroke: s.color, "stroke-width": 2}, data);
          else el("circle", {cx: sx(x), cy: sy(y), r: s.kind === "step" ? 1.8 : 3, fill: s.color}, data);
        });
      });
    }
    function nearest(s, x) {
      var best = -1, bd = Infinity;
      for (var j = 0; j < s.x.length; j++) { var d = Math.abs(s.x[j] - x); if (d < bd) { bd = d; best = j; } }
      return best;
    }
    svg.addEventListener("mousemove", function (ev) {
      var r = svg.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top;
      while (hover.firstChild) hover.removeChild(hover.firstChild);
      if (px < M.l || px > W - M.r || py < M.t || py > H - M.b) { hideTip(); return; }
      var pw = W - M.l - M.r;
      var x = ex.x0 + (px - M.l - view.x) / (pw * view.k) * (ex.x1 - ex.x0);
      el("line", {x1: px, x2: px, y1: M.t, y2: H - M.b, stroke: "#aaa", "stroke-dasharray": "3,3"}, hover);
      var rows = [];
      chart.series.forEach(function (s, i) {
        if (!on[i] || !s.x.length) return;
        var j = nearest(s, x);
        var y = s.y[j];
        if (isFinite(y) && !(log && y <= 0)) el("circle", {cx: sx(s.x[j]), cy: sy(y), r: 4, fill: "none", stroke: s.color, "stroke-width": 2}, hover);
        rows.push('<span style="color:' + s.color + '">\u25A0</span> ' + esc(s.name) + ": <b>" + esc(fmt(y)) + "</b>  (step " +
                  esc(s.step[j]) + ", epoch " + esc(s.epoch[j]) + ")");
      });
      showTip(rows.join("\n"), ev);
    });
    svg.addEventListener("mouseleave", function () { while (hover.firstChild) hover.removeChild(hover.firstChild); hideTip(); });
    logBox.addEventListener("change", function () { view.x = 0; view.y = 0; view.k = 1; draw(); });
    var pz = panZoom(svg, view, draw, {minK: 0.5, maxK: 200, inside: function (p) {
      return p.x >= M.l && p.x <= W - M.r && p.y >= M.t && p.y <= H - M.b; }});
    resetBtn.addEventListener("click", function () { pz.reset(); });
    draw();
    return panel;
  }
  function renderCharts(container, charts) {
    charts.forEach(function (c) { renderChart(container, c); });
    done();
  }
  function done() {
    var n = (parseInt(document.body.dataset.renderedCount || "0", 10) || 0) + 1;
    document.body.dataset.renderedCount = String(n);
    document.body.dataset.rendered = "ok";
    if (window.location.hash === "#selftest") selfTest();
  }
  // Opened with #selftest (the headless-browser test does), the page drives its own interactions with
  // synthetic events and records the outcome in <html data-selftest="pass" | "fail: ...">.
  function selfTest() {
    var fails = [];
    function mouse(target, type, x, y, extra) {
      var ev = new MouseEvent(type, {bubbles: true, clientX: x, clientY: y});
      if (extra) for (var k in extra) ev[k] = extra[k];
      target.dispatchEvent(ev);
    }
    try {
      var node = document.querySelector(".node");
      if (node) {
        var r = node.getBoundingClientRect();
        mouse(node, "mousemove", r.left + 3, r.top + 3);
        if (!tipEl || tipEl.style.display !== "block" || tipEl.textContent.length < 2) fails.push("graph hover shows no details");
        hideTip();
        var svg = node.ownerSVGElement, g = svg.firstElementChild.nextElementSibling;
        var before = g.getAttribute("transform");
        var sr = svg.getBoundingClientRect();
        svg.dispatchEvent(new WheelEvent("wheel", {bubbles: true, cancelable: true, clientX: sr.left + 50, clientY: sr.top + 50, deltaY: -300}));
        if (g.getAttribute("transform") === before) fails.push("graph wheel does not zoom");
        before = g.getAttribute("transform");
        svg.dispatchEvent(new PointerEvent("pointerdown", {bubbles: true, button: 0, clientX: sr.left + 60, clientY: sr.top + 60}));
        svg.dispatchEvent(new PointerEvent("pointermove", {bubbles: true, clientX: sr.left + 90, clientY: sr.top + 80}));
        svg.dispatchEvent(new PointerEvent("pointerup", {bubbles: true}));
        if (g.getAttribute("transform") === before) fails.push("graph drag does not pan");
      }
      var chart = document.querySelector(".chart svg");
      if (chart) {
        var cr = chart.getBoundingClientRect();
        mouse(chart, "mousemove", cr.left + cr.width / 2, cr.top + cr.height / 2);
        if (!tipEl || tipEl.style.display !== "block" || tipEl.textContent.indexOf("step") < 0) fails.push("chart hover shows no step/value");
        var paths = chart.querySelectorAll("path").length;
        var box = document.querySelector(".chart .legend input");
        box.click();
        if (chart.querySelectorAll("path").length >= paths && paths > 0) fails.push("series toggle does not hide a series");
        box.click();
        var log = document.querySelector(".chart .controls input");
        if (!log.disabled) {
          var ticks = chart.querySelector(".axis").textContent;
          log.click();
          if (chart.querySelector(".axis").textContent === ticks) fails.push("log toggle does not change the axis");
        }
        var ticks2 = chart.querySelector(".axis").textContent;
        chart.dispatchEvent(new WheelEvent("wheel", {bubbles: true, cancelable: true, clientX: cr.left + cr.width / 2, clientY: cr.top + cr.height / 2, deltaY: -400}));
        if (chart.querySelector(".axis").textContent === ticks2) fails.push("chart wheel does not zoom");
      }
    } catch (e) { fails.push("exception: " + e); }
    document.documentElement.setAttribute("data-selftest", fails.length ? "fail: " + fails.join("; ") : "pass");
  }
  return {renderGraphs: renderGraphs, renderGraph: renderGraph, renderCharts: renderCharts,
          renderChart: renderChart, panZoom: panZoom};
})();
"""

ERROR_HOOK = r"""
window.__emberErrors = [];
window.addEventListener("error", function (e) {
  window.__emberErrors.push(String(e.message || e));
  document.documentElement.setAttribute("data-errors", window.__emberErrors.join(" | "));
});
"""


def page(title, body_html, script, head_extra=""):
    """One self-contained HTML document: inline CSS, the library and ``script``, nothing fetched."""
    script = script.replace("</", "<\\/")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{title}</title>\n<script>{ERROR_HOOK}</script>\n<style>{CSS}</style>\n{head_extra}</head>\n"
        f"<body>\n<h1>{title}</h1>\n{body_html}\n<script>{JS}</script>\n<script>\n{script}\n</script>\n"
        "</body>\n</html>\n"
    )
