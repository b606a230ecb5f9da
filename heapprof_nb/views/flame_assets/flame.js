// Draws the flame graph of the element with id __ID__ from its JSON data (see flame.py).
(function () {
  "use strict";
  var script = document.currentScript;
  var box = (script && script.parentNode && script.parentNode.id === "__ID__")
    ? script.parentNode : document.getElementById("__ID__");
  if (!box || box.getAttribute("data-hpnb-ready")) { return; }
  box.setAttribute("data-hpnb-ready", "1");
  var nojs = box.querySelector(".hpnb-nojs");
  if (nojs) { nojs.parentNode.removeChild(nojs); }
  var tree = JSON.parse(box.querySelector("script.hpnb-flame-data").textContent);
  var chart = box.querySelector(".hpnb-chart");
  var tip = box.querySelector(".hpnb-tip");
  var status = box.querySelector(".hpnb-status");
  var input = box.querySelector("input");
  var reset = box.querySelector("button");
  var ROW = 18, total = tree.bytes || 0, nodes = [], focus = tree, query = "";

  (function index() {  // flat list, parent links and depths; iterative (trees may be deep)
    tree.parent = null; tree.depth = 0;
    var todo = [tree];
    while (todo.length) {
      var n = todo.pop();
      n.i = nodes.length; nodes.push(n);
      var ch = n.children || [], sum = 0;
      for (var k = 0; k < ch.length; k++) {
        ch[k].parent = n; ch[k].depth = n.depth + 1; sum += ch[k].bytes; todo.push(ch[k]);
      }
      n.self = Math.max(0, n.bytes - sum);
    }
  })();

  function hash(s) {
    var h = 2166136261;
    for (var k = 0; k < s.length; k++) { h ^= s.charCodeAt(k); h = Math.imul(h, 16777619); }
    return h >>> 0;
  }
  function fileOf(n) {
    var loc = n.location || "", c = loc.lastIndexOf(":");
    return c > 0 ? loc.slice(0, c) : loc;
  }
  function colour(el, n) {
    var k = n.kind, fh = hash(fileOf(n)), nh = hash(n.name);
    var h = k === 2 ? 195 + fh % 30 : k === 1 ? 34 + fh % 22 : fh % 28;
    el.style.setProperty("--h", String(h));
    el.style.setProperty("--d", String((nh % 9) - 4));
  }
  function human(b) {
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], a = Math.abs(b), i = 0;
    while (a >= 1024 && i < u.length - 1) { a /= 1024; i++; }
    return (b < 0 ? "-" : "") + (i ? a.toFixed(1) : a.toFixed(0)) + " " + u[i];
  }
  function pct(b, of) {
    if (!of) { return "0%"; }
    var p = 100 * b / of;
    return (p >= 10 ? p.toFixed(1) : p >= 0.1 ? p.toFixed(2) : p.toPrecision(2)) + "%";
  }
  function isAncestor(a, n) { while (n) { if (n === a) { return true; } n = n.parent; } return false; }

  function matches(n) {
    if (!query || n.small || n === tree) { return false; }
    var q = query;
    return n.name.toLowerCase().indexOf(q) >= 0 || (n.source || "").toLowerCase().indexOf(q) >= 0;
  }
  function matchedBytes(under) {  // bytes of matched frames, nested matches counted once
    var sum = 0, todo = [under];
    while (todo.length) {
      var n = todo.pop();
      if (n !== under && n.m) { sum += n.bytes; continue; }
      if (n === under && n.m) { return n.bytes; }
      var ch = n.children || [];
      for (var k = 0; k < ch.length; k++) { todo.push(ch[k]); }
    }
    return sum;
  }

  function bar(n, x, w, row, cls, width) {
    var el = document.createElement("div");
    el.className = "hpnb-f hpnb-k" + n.kind + (cls ? " " + cls : "") + (n.m ? " hpnb-m" : "");
    el.style.left = (100 * x) + "%";
    el.style.width = (100 * w) + "%";
    el.style.top = (row * ROW) + "px";
    el.setAttribute("data-name", n.name);
    el.setAttribute("data-bytes", String(n.bytes));
    el.setAttribute("data-i", String(n.i));
    colour(el, n);
    if (w * width >= 28) { el.textContent = n.function || n.name; }
    return el;
  }

  function render() {
    var width = chart.clientWidth || 1000, frag = document.createDocumentFragment(), rows = 0;
    chart.textContent = "";
    if (!total) {
      var e = document.createElement("div");
      e.className = "hpnb-empty";
      e.textContent = "Nothing to draw: no allocations in this snapshot.";
      chart.appendChild(e); chart.style.height = "auto";
      return;
    }
    var anc = [], a = focus;
    while (a) { anc.unshift(a); a = a.parent; }
    for (var r = 0; r < anc.length - 1; r++) { frag.appendChild(bar(anc[r], 0, 1, r, "hpnb-anc", width)); }
    var scale = focus.bytes ? 1 / focus.bytes : 0, minw = 0.5 / width;
    var todo = [[focus, 0, anc.length - 1]];
    while (todo.length) {
      var t = todo.pop(), n = t[0], x = t[1], row = t[2], w = n.bytes * scale;
      frag.appendChild(bar(n, x, w, row, "", width));
      if (row + 1 > rows) { rows = row + 1; }
      var ch = n.children || [], cx = x;
      for (var k = 0; k < ch.length; k++) {
        var cw = ch[k].bytes * scale;
        if (cw >= minw) { todo.push([ch[k], cx, row + 1]); }
        cx += cw;
      }
    }
    chart.style.height = (rows * ROW) + "px";
    chart.appendChild(frag);
    reset.disabled = focus === tree;
    showStatus();
  }

  function showStatus() {
    status.textContent = "";
    var parts = [];
    if (query) {
      var mb = matchedBytes(tree);
      parts.push(["Matched ", human(mb), " = " + pct(mb, total) + " of total"]);
      if (focus !== tree) { parts.push(["", pct(matchedBytes(focus), focus.bytes), " of this view"]); }
    }
    if (focus !== tree) {
      parts.push(["Zoomed to ", focus.function || focus.name, ": " + human(focus.bytes) + " = " +
        pct(focus.bytes, total) + " of total (click the top bar or Reset to zoom out)"]);
    } else if (!query) {
      parts.push(["", "", "Click a frame to zoom in; hover for details."]);
    }
    for (var k = 0; k < parts.length; k++) {
      if (k) { status.appendChild(document.createTextNode(" \u00b7 ")); }
      status.appendChild(document.createTextNode(parts[k][0]));
      if (parts[k][1]) { var b = document.createElement("b"); b.textContent = parts[k][1]; status.appendChild(b); }
      status.appendChild(document.createTextNode(parts[k][2]));
    }
  }

  function row(tbody, label, value, code) {
    var tr = document.createElement("tr"), th = document.createElement("td"), td = document.createElement("td");
    th.textContent = label;
    if (code) { var c = document.createElement("code"); c.textContent = value; td.appendChild(c); }
    else { td.textContent = value; }
    tr.appendChild(th); tr.appendChild(td); tbody.appendChild(tr);
  }
  function showTip(n, ev) {
    tip.textContent = "";
    var name = document.createElement("div");
    name.className = "hpnb-t-name"; name.textContent = n.name; tip.appendChild(name);
    var table = document.createElement("table"), tb = document.createElement("tbody");
    row(tb, "bytes", human(n.bytes) + " (" + Math.round(n.bytes).toLocaleString() + " B)");
    row(tb, "share", pct(n.bytes, total) + " of total" +
      (focus !== tree && isAncestor(focus, n) ? ", " + pct(n.bytes, focus.bytes) + " of view" : ""));
    if (n.self && n !== tree && !n.small) { row(tb, "self", human(n.self) + " (" + pct(n.self, total) + ")"); }
    if (n.location) { row(tb, "location", n.location); }
    if (n.source) { row(tb, "source", n.source.trim(), true); }
    if (n.small) { row(tb, "", "frames under " + pct(threshold(), 1) + " of the total, merged"); }
    table.appendChild(tb); tip.appendChild(table);
    tip.hidden = false;
    moveTip(ev);
  }
  function threshold() { var m = parseFloat(box.getAttribute("data-min-share")); return isNaN(m) ? 0 : m; }
  function moveTip(ev) {  // next to the pointer, kept inside the box (outputs may clip)
    var r = box.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top;
    var w = tip.offsetWidth, h = tip.offsetHeight, x = px + 14, y = py + 16;
    if (x + w > r.width - 4) { x = Math.max(4, px - w - 10); }
    if (y + h > r.height - 4) { y = py - h - 10 >= 0 ? py - h - 10 : Math.max(0, r.height - h - 4); }
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }
  function nodeAt(ev) {
    var el = ev.target;
    while (el && el !== chart) {
      if (el.getAttribute && el.getAttribute("data-i") !== null) { return nodes[+el.getAttribute("data-i")]; }
      el = el.parentNode;
    }
    return null;
  }
  var hovered = null;
  chart.addEventListener("mousemove", function (ev) {
    var n = nodeAt(ev);
    if (!n) { tip.hidden = true; hovered = null; return; }
    if (n !== hovered) { hovered = n; showTip(n, ev); } else { moveTip(ev); }
  });
  chart.addEventListener("mouseleave", function () { tip.hidden = true; hovered = null; });
  chart.addEventListener("click", function (ev) {
    var n = nodeAt(ev);
    if (!n) { return; }
    focus = (n === focus && n.parent) ? n.parent : n;
    tip.hidden = true; hovered = null;
    render();
  });
  reset.addEventListener("click", function () { focus = tree; render(); });
  var timer = null;
  function search() {
    query = input.value.trim().toLowerCase();
    for (var k = 0; k < nodes.length; k++) { nodes[k].m = matches(nodes[k]); }
    render();
  }
  input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(search, 120); });
  input.addEventListener("keydown", function (ev) {
    ev.stopPropagation();  // keep notebook shortcuts out of the search box
    if (ev.key === "Escape") { input.value = ""; search(); }
    if (ev.key === "Enter") { clearTimeout(timer); search(); }
  });
  box.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && focus !== tree) { focus = tree; render(); ev.stopPropagation(); }
  });
  if (typeof ResizeObserver === "function") {
    var lastWidth = chart.clientWidth;
    new ResizeObserver(function () {
      var w = chart.clientWidth;
      if (w && Math.abs(w - lastWidth) > 2) { lastWidth = w; render(); }
    }).observe(chart);
  }
  render();
})();
