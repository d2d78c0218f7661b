// The row table of a tqscore report: pages, sorts and filters the JSON columns in
// #table-data. Only one page of rows is ever in the DOM, so 100,000 rows stay responsive.
(function () {
  "use strict";
  const PAGE = 100;
  const data = JSON.parse(document.getElementById("table-data").textContent);
  const cols = data.columns;
  const byName = Object.fromEntries(cols.map((c) => [c.name, c]));
  const n = data.n;
  const table = document.getElementById("rows-table");
  const thead = table.tHead;
  const tbody = table.tBodies[0];
  const countEl = document.getElementById("count");
  let order = Array.from({ length: n }, (_, i) => i);
  let view = order;
  let page = 0;
  let sortCol = null;
  let sortDir = 1;

  function raw(c, i) {
    switch (c.kind) {
      case "num": return c.values[i];
      case "str": return c.values[i];
      case "cat": return c.codes[i] === null ? null : c.dict[c.codes[i]];
      case "list": return c.codes[i].map((k) => c.dict[k]).join("; ");
      case "sparse": return c.values[i] === undefined ? null : c.values[i];
    }
    return null;
  }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch]));
  }
  function href(path) {
    return data.link_prefix + path.split("/").map(encodeURIComponent).join("/");
  }
  function cell(c, i) {
    const v = raw(c, i);
    if (v === null || v === undefined || v === "") return c.kind === "num" ? '<td class="num"></td>' : "<td></td>";
    if (c.name === "path") {
      return data.link_prefix === null ? `<td class="path">${esc(v)}</td>`
        : `<td class="path"><a href="${esc(href(v))}">${esc(v)}</a></td>`;
    }
    if (c.kind === "num") return `<td class="num">${v}</td>`;
    const cls = { ok: "good", pass: "good", no_face: "warn", review: "warn", error: "bad", fail: "bad" }[v];
    if (cls && (c.name === "status" || c.name === "verdict")) return `<td class="${cls}">${esc(v)}</td>`;
    return `<td class="${c.kind === "list" || c.kind === "sparse" ? "text" : ""}">${esc(v)}</td>`;
  }

  function header() {
    const tr = document.createElement("tr");
    cols.forEach((c) => {
      const th = document.createElement("th");
      th.textContent = c.name;
      th.dataset.column = c.name;
      th.title = "sort by " + c.name;
      th.addEventListener("click", () => sortBy(c.name));
      tr.appendChild(th);
    });
    thead.appendChild(tr);
  }

  function sortBy(name) {
    sortDir = sortCol === name ? -sortDir : 1;
    sortCol = name;
    const c = byName[name];
    const keys = new Array(n);
    for (let i = 0; i < n; i++) keys[i] = raw(c, i);
    const numeric = c.kind === "num";
    order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => {
      const x = keys[a], y = keys[b];
      const xn = x === null || x === undefined || x === "", yn = y === null || y === undefined || y === "";
      if (xn || yn) return xn === yn ? a - b : xn ? 1 : -1; // empty cells last either way
      const d = numeric ? x - y : String(x).localeCompare(String(y));
      return d === 0 ? a - b : sortDir * d;
    });
    for (const th of thead.rows[0].cells) {
      if (th.dataset.column === name) th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    }
    applyFilter();
  }

  const TERM = /^([A-Za-z_][A-Za-z0-9_]*)(<=|>=|!=|=|<|>)(.*)$/;
  function predicate(term) {
    const m = TERM.exec(term);
    if (m && byName[m[1]]) {
      const c = byName[m[1]], op = m[2], want = m[3];
      if (c.kind === "num") {
        const w = Number(want);
        if (Number.isNaN(w)) return () => false;
        return (i) => {
          const v = raw(c, i);
          if (v === null) return op === "!=";
          return op === "<" ? v < w : op === ">" ? v > w : op === "<=" ? v <= w : op === ">=" ? v >= w
            : op === "=" ? v === w : v !== w;
        };
      }
      const w = want.toLowerCase();
      return (i) => {
        const v = String(raw(c, i) ?? "").toLowerCase();
        return op === "!=" ? v !== w : op === "=" ? v === w : op === "<" ? v < w : op === ">" ? v > w
          : op === "<=" ? v <= w : v >= w;
      };
    }
    const needle = term.toLowerCase();
    const text = cols.filter((c) => c.kind !== "num");
    return (i) => text.some((c) => String(raw(c, i) ?? "").toLowerCase().includes(needle));
  }
  function applyFilter() {
    const tests = document.getElementById("filter").value.trim().split(/\s+/).filter(Boolean).map(predicate);
    const status = document.getElementById("status-filter").value;
    const verdict = document.getElementById("verdict-filter").value;
    if (status && byName.status) tests.push((i) => raw(byName.status, i) === status);
    if (verdict && byName.verdict) tests.push((i) => raw(byName.verdict, i) === verdict);
    view = tests.length ? order.filter((i) => tests.every((t) => t(i))) : order;
    page = 0;
    render();
  }

  function render() {
    const pages = Math.max(1, Math.ceil(view.length / PAGE));
    page = Math.min(Math.max(page, 0), pages - 1);
    const start = page * PAGE;
    const rows = view.slice(start, start + PAGE);
    tbody.innerHTML = rows.map((i) => `<tr data-row="${i}">` + cols.map((c) => cell(c, i)).join("") + "</tr>").join("");
    const shown = view.length ? `${start + 1}–${start + rows.length}` : "0";
    countEl.textContent = `rows ${shown} of ${view.length.toLocaleString("en")}`
      + (view.length !== n ? ` (filtered from ${n.toLocaleString("en")})` : "") + ` · page ${page + 1}/${pages}`;
  }

  function options(selectId, name) {
    const c = byName[name];
    const select = document.getElementById(selectId);
    if (!c || c.kind !== "cat") { select.style.display = "none"; return; }
    c.dict.forEach((v) => { const o = document.createElement("option"); o.value = v; o.textContent = v; select.appendChild(o); });
    select.addEventListener("change", applyFilter);
  }

  header();
  options("status-filter", "status");
  options("verdict-filter", "verdict");
  let timer = null;
  document.getElementById("filter").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(applyFilter, 200); });
  document.getElementById("filter").addEventListener("change", () => { clearTimeout(timer); applyFilter(); });
  document.getElementById("first").addEventListener("click", () => { page = 0; render(); });
  document.getElementById("prev").addEventListener("click", () => { page -= 1; render(); });
  document.getElementById("next").addEventListener("click", () => { page += 1; render(); });
  document.getElementById("last").addEventListener("click", () => { page = Infinity; render(); });
  // The first screen's "show every fail row": the table filtered by that verdict, scrolled into view.
  document.querySelectorAll("button.show-rows").forEach((b) => b.addEventListener("click", () => {
    document.getElementById("verdict-filter").value = b.dataset.verdict;
    applyFilter();
    document.getElementById("rows").scrollIntoView();
  }));
  render();
})();
