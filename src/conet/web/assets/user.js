// CONET user page: the local proxy's /status, and its route (hops, exit
// region) changed with POST /route (docs/web.md).
'use strict';

(() => {
  const { getJson, h, $, setText, fill, table, amount, bytes, banner, every } = conet;
  const samples = [];
  let last = null;
  let lastAt = 0;
  let regionsShown = '';

  // "c90e734a@127.0.0.1:45269/US" -> {key, endpoint, region}
  const hop = (s) => {
    const m = /^([0-9a-f]+)@(.*)\/([A-Z]{2}|[^/]*)$/.exec(s) || [];
    return { key: m[1] || s, endpoint: m[2] || '', region: m[3] || '?' };
  };

  function showRoute(st) {
    const regions = st.exit_regions || [];
    if (regions.join() !== regionsShown) {
      regionsShown = regions.join();
      fill('route-region', h('option', { value: '' }, 'any'), regions.map((r) => h('option', { value: r }, r)));
    }
    if (document.activeElement !== $('route-region') && document.activeElement !== $('route-hops')) {
      $('route-region').value = st.exit_region || '';
      $('route-hops').value = String(st.hops);
    }
  }

  async function refresh() {
    const st = await getJson('/status');
    const ready = st.circuits.filter((c) => c.state === 'ready' && !c.isolated).length;
    const connected = st.circuits.some((c) => c.state === 'ready');
    setText('state', connected ? 'connected' : 'connecting…');
    setText('conn', connected ? 'Connected' : st.relays_known ? 'Building circuits…' : 'Waiting for relays…');
    setText('conn-circuits', `${ready} ready, ${st.circuits_built} built, ${st.circuits_failed} failed`);
    setText('conn-relays', `${st.relays_known}${st.relays_refused ? ` (${st.relays_refused} refused)` : ''}`);
    setText('conn-streams', `${st.streams} (${st.streams_opened} opened in all)`);
    setText('conn-route', `${st.hops} hops, exit in ${st.exit_region || 'any region'}`);
    showRoute(st);

    const total = st.bytes_sent + st.bytes_received;
    setText('traffic-total', bytes(total));
    $('traffic-total').dataset.bytes = String(total);
    setText('traffic-detail', `${bytes(st.bytes_sent)} sent, ${bytes(st.bytes_received)} received`);
    const now = performance.now();
    if (last) {
      const delta = Math.max(0, total - (last.bytes_sent + last.bytes_received));
      samples.push(delta);
      if (samples.length > 120) samples.shift();
      setText('traffic-rate', `${bytes(delta / Math.max(0.001, (now - lastAt) / 1000))}/s now`);
      conet.sparkline($('traffic-chart'), samples);
    }
    last = st;
    lastAt = now;

    fill('circuits', table(['entry', 'middle', 'exit', 'state', '#streams', '#sent', '#received'],
      st.circuits.map((c) => {
        const hops = c.path.map(hop);
        const cell = (x) => (x ? h('span', {}, h('b', {}, x.region), ' ', h('span', { class: 'mono muted' }, x.key)) : '—');
        return [cell(hops[0]), hops.length > 2 ? cell(hops[1]) : '—', h('span', { class: 'exit-region' }, cell(hops[hops.length - 1])),
                c.isolated ? `${c.state} (isolated)` : c.state, c.streams, bytes(c.bytes_sent), bytes(c.bytes_received)];
      }), 'no circuits yet'));

    const w = st.wallet;
    const refusedBox = $('refused');
    if (w) {
      setText('wallet-prepaid', w.prepaid === null ? 'prepaid: …' : `${amount(w.prepaid)} prepaid`);
      setText('wallet-address', w.address);
      setText('wallet-unpaid', `${bytes(w.unpaid_bytes)} carried, not yet receipted`);
      setText('wallet-price', `${amount(w.price_per_mib)} per MiB`);
      setText('wallet-epoch', w.epoch === null ? '…' : w.epoch);
      fill('spend', table(['#epoch', '#bytes', '#cost'], w.spend.map((s) => [s.epoch, bytes(s.bytes), amount(s.cost)]).reverse(), 'nothing spent yet'));
      refusedBox.className = w.refused ? 'banner bad' : 'banner bad hidden';
      refusedBox.textContent = w.refused
        ? `An exit refused service: ${w.refused}. Top up the prepaid balance of ${w.address} (conet tx deposit) or wait for the next epoch.`
        : '';
    } else {
      setText('wallet-prepaid', 'no wallet');
      setText('wallet-address', 'this proxy runs without a wallet (free tier only): pass --wallet-keystore');
      fill('spend', h('p', { class: 'muted' }, 'no wallet'));
    }
    setText('live', '● live');
    banner('');
  }

  async function applyRoute(e) {
    e.preventDefault();
    const body = JSON.stringify({ hops: Number($('route-hops').value), exit_region: $('route-region').value });
    const res = await fetch('/route', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    const answer = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
    setText('route-result', res.ok ? `Route set: ${answer.hops} hops, exit in ${answer.exit_region || 'any region'}. New requests use it.`
                                   : `Not changed: ${answer.error}`);
    $('route-result').className = res.ok ? 'route-ok' : 'route-error';
  }

  const origin = location.host;
  setText('pac-url', `${location.origin}/pac`);
  setText('pac-url2', `${location.origin}/pac`);
  setText('socks', origin);
  setText('socks2', origin);
  setText('http-proxy', origin);
  $('route-form').addEventListener('submit', (e) => applyRoute(e).catch((err) => setText('route-result', String(err))));
  every(1000, async () => {
    try { await refresh(); } catch (e) { setText('live', '○ proxy not answering'); throw e; }
  });
})();
