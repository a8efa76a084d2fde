// CONET dashboards: helpers shared by the user, operator and explorer pages.
// Plain JavaScript, no libraries: pages read only the node's public JSON-RPC,
// WebSocket and status endpoints (docs/web.md).
'use strict';

const conet = (() => {
  let nextId = 0;
  const timeoutMs = 8000;  // a node that stops answering shows as down, not as loading forever

  /** One JSON-RPC 2.0 call; throws an Error naming the method on any failure. */
  async function rpc(url, method, params = []) {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++nextId, method, params }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`${method}: HTTP ${res.status}`);
    const body = await res.json();
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result;
  }

  /** GET a JSON document (a status endpoint). */
  async function getJson(url) {
    const res = await fetch(url, { cache: 'no-store', signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return res.json();
  }

  /**
   * Subscribes to newHeads over the RPC's WebSocket and calls onHead(header)
   * for each committed block; reconnects after a drop (the server closes a
   * socket after its maximum lifetime). onState(true|false) tells whether the
   * socket is open.
   */
  function subscribeHeads(wsUrl, onHead, onState = () => {}) {
    let delay = 500;
    const open = () => {
      const ws = new WebSocket(wsUrl);
      ws.onopen = () => {
        delay = 500;
        onState(true);
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'conet_subscribe', params: ['newHeads'] }));
      };
      ws.onmessage = (ev) => {
        const msg = JSON.parse(ev.data);
        if (msg.method === 'conet_subscription' && msg.params) onHead(msg.params.result);
      };
      ws.onclose = () => {
        onState(false);
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 10000);
      };
    };
    open();
  }

  /** Builds an element: h('td', {class: 'num'}, 'text', child, …). */
  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const $ = (id) => document.getElementById(id);
  function setText(id, text) {
    const el = $(id);
    if (el) el.textContent = text;
  }
  function fill(id, ...children) {
    const el = $(id);
    if (el) el.replaceChildren(...children.flat());
  }

  /** A table from column titles (prefix '#' for a numeric column) and rows of cells. */
  function table(columns, rows, empty = 'none yet') {
    if (!rows.length) return h('p', { class: 'muted' }, empty);
    const num = columns.map((c) => c.startsWith('#'));
    return h('table', {},
      h('thead', {}, h('tr', {}, columns.map((c, i) => h('th', { class: num[i] ? 'num' : null }, num[i] ? c.slice(1) : c)))),
      h('tbody', {}, rows.map((r) => h('tr', {}, r.map((cell, i) => h('td', { class: num[i] ? 'num' : null }, cell))))));
  }

  /** Base units (1 CONET = 10^6) as "12.5 CONET". */
  function amount(units) {
    if (units === undefined || units === null) return '—';
    return `${(Number(units) / 1e6).toLocaleString('en-US', { maximumFractionDigits: 6 })} CONET`;
  }
  function bytes(n) {
    n = Number(n || 0);
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; ++i; }
    return `${n.toLocaleString('en-US', { maximumFractionDigits: i ? 1 : 0 })} ${units[i]}`;
  }
  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    const d = Math.floor(seconds / 86400), hh = Math.floor((seconds % 86400) / 3600);
    const m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (d) return `${d}d ${hh}h`;
    if (hh) return `${hh}h ${m}m`;
    if (m) return `${m}m ${s}s`;
    return `${s}s`;
  }
  /** "0x1234…abcd" for long hex strings. */
  function short(hex, keep = 8) {
    hex = String(hex || '');
    return hex.length > 2 * keep + 3 ? `${hex.slice(0, keep + (hex.startsWith('0x') ? 2 : 0))}…${hex.slice(-keep)}` : hex;
  }
  function badge(text, kind) { return h('span', { class: `badge ${kind || ''}` }, text); }
  function tierBadge(tier) {
    const kind = { good: 'good', acceptable: 'good', degraded: 'warn', poor: 'warn', fail: 'bad' }[tier] || '';
    return badge(tier || 'unmeasured', kind);
  }

  /** Draws values (oldest first) as a line with its area into an <svg class="spark">. */
  function sparkline(svg, values) {
    if (values.length === 1) values = [values[0], values[0]];  // one sample: a level line
    const w = 300, hgt = 70;
    svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
    svg.setAttribute('preserveAspectRatio', 'none');
    const max = Math.max(1, ...values);
    const step = values.length > 1 ? w / (values.length - 1) : w;
    const pts = values.map((v, i) => `${(i * step).toFixed(1)},${(hgt - 2 - (v / max) * (hgt - 4)).toFixed(1)}`);
    const ns = 'http://www.w3.org/2000/svg';
    const area = document.createElementNS(ns, 'polygon');
    area.setAttribute('class', 'area');
    area.setAttribute('points', pts.length ? `0,${hgt} ${pts.join(' ')} ${((values.length - 1) * step).toFixed(1)},${hgt}` : '');
    const line = document.createElementNS(ns, 'polyline');
    line.setAttribute('points', pts.join(' '));
    svg.replaceChildren(area, line);
  }

  /** Shows (or, with no text, hides) the page's banner. */
  function banner(text, kind = 'bad') {
    const el = $('banner');
    if (!el) return;
    el.className = text ? `banner ${kind}` : 'banner hidden';
    el.textContent = text || '';
  }

  /** Runs fn every `ms`, never twice at once; errors go to the banner. */
  function every(ms, fn) {
    let busy = false;
    const tick = async () => {
      if (busy) return;
      busy = true;
      try { await fn(); } catch (e) { banner(String(e.message || e)); } finally { busy = false; }
    };
    tick();
    return setInterval(tick, ms);
  }

  return { rpc, getJson, subscribeHeads, h, $, setText, fill, table, amount, bytes, duration, short, badge,
           tierBadge, sparkline, banner, every };
})();
