// CONET operator page: this node's /status and its record, scores and
// rewards from the ledger's JSON-RPC (docs/web.md).
'use strict';

(() => {
  const { rpc, getJson, h, setText, fill, table, amount, bytes, duration, short, badge, tierBadge, banner, every } = conet;
  const samples = [];  // bytes relayed per sample
  let last = null;     // previous /status

  function warnings(list) {
    fill('warnings', list.map((w) => h('div', { class: 'banner warn warning' }, w)));
  }

  async function ledgerPart(st, extra) {
    const url = st.rpc || st.ledger_rpc;
    if (!url) {
      setText('ledger-url', 'none configured');
      return;
    }
    setText('ledger-url', url);
    const call = (m, p) => rpc(url, m, p);
    const node = await call('conet_getNode', [st.node]);
    setText('ledger-record', node.record ? `registered, expires ${new Date(node.record.expires_at * 1000).toISOString().slice(0, 10)}` : 'not registered');
    setText('ledger-stake', amount(node.stake));
    if (st.operator) {
      const acct = await call('conet_getAccount', [st.operator]);
      setText('ledger-balance', amount(acct.balance));
    }
    const head = await call('conet_getHeader', []);
    // Clock skew: the node's clock against the ledger's latest block time.
    const skew = st.now - head.header.time;
    if (Math.abs(skew) > 120) extra.push(`Clock skew: this node's clock is ${skew} s off the ledger's latest block time; fix its time (NTP).`);

    const scores = await call('conet_getScores', [0, 500]);
    const mine = scores.nodes.find((n) => n.node === st.node);
    if (mine) {
      fill('ledger-state', mine.jailed ? badge('jailed', 'bad') : badge('active', 'good'),
        mine.failed_epochs ? ` ${mine.failed_epochs} failed epoch(s) in a row` : '');
      if (mine.jailed) extra.push('This node is jailed: it failed its probes for too many epochs and earns nothing until it is released.');
      const history = await call('conet_getNodeHistory', [st.node, 10]);
      const rows = history.epochs.map((e) => [
        e.epoch, e.reports, `${(e.score_bps / 100).toFixed(1)}%`, tierBadge(e.tier), `${(e.multiplier_bps / 100).toFixed(0)}%`,
        amount(e.reward), e.jailed ? badge('jailed', 'bad') : e.failed_epochs ? `${e.failed_epochs} failed in a row` : '']);
      fill('scores', h('p', { class: 'muted' }, `epoch ${scores.epoch}: probed by ${mine.probers.length} validator(s), ${mine.reported_this_epoch.length} reported so far`),
        table(['#epoch', '#reports', '#score', 'tier', '#multiplier', '#reward', 'state'], rows, 'not measured yet'));
    } else {
      setText('ledger-state', 'not on the ledger');
      fill('scores', h('p', { class: 'muted' }, 'not measured: the node has no record on the ledger'));
    }

    if (st.operator) {
      const rows = [];
      const e = await call('conet_getEpoch', []);
      for (let ep = e.last ? e.last.epoch : -1; ep >= 0 && rows.length < 6; --ep) {
        let r;
        try { r = await call('conet_getRewards', [st.operator, ep]); } catch { break; }
        const mineR = (r.rewards || []).find((x) => x.address.toLowerCase() === st.operator.toLowerCase());
        const fees = r.usage_fees || 0;
        rows.push([ep, amount(mineR ? mineR.node_reward : 0), amount(mineR ? mineR.validator_reward : 0), amount(fees),
                   amount((mineR ? mineR.total : 0) + fees)]);
      }
      fill('rewards', h('p', { class: 'muted' }, 'paid to the operator address (all its nodes); usage fees as claimed so far'),
        table(['#epoch', '#node reward', '#validator reward', '#usage fees', '#total'], rows, 'no epoch paid yet'));
    }
  }

  async function refresh() {
    const st = await getJson('/status');
    setText('title-node', `${short(st.node, 8)} · ${st.region}`);
    setText('node-key', st.node);
    setText('node-operator', st.operator || 'no wallet loaded');
    setText('node-region', st.region);
    setText('node-endpoint', st.endpoint);
    setText('node-roles', ['relay', st.exit ? 'exit' : 'entry only', st.validator ? 'validator' : null, st.prober ? 'prober' : null].filter(Boolean).join(', '));
    setText('node-uptime', `${duration(st.uptime_seconds)} (since ${new Date(st.started_at * 1000).toISOString().replace('T', ' ').slice(0, 19)} UTC)`);
    setText('links', st.links);
    setText('circuits', st.circuits);
    setText('streams', st.streams);
    setText('relays-known', st.relays_known);
    setText('queued', `${bytes(st.queued_bytes)} of ${bytes(st.budget_bytes)} budget`);
    const total = st.bytes_in + st.bytes_out;
    setText('bytes-total', bytes(total));
    conet.$('bytes-total').dataset.bytes = String(total);
    if (last) {
      const dt = Math.max(1, st.now_ms - last.now_ms) / 1000;
      const delta = Math.max(0, total - (last.bytes_in + last.bytes_out));
      samples.push(delta);
      if (samples.length > 150) samples.shift();
      setText('bytes-rate', `${bytes(delta / dt)}/s now`);
      conet.sparkline(conet.$('bytes-chart'), samples);
    }
    last = st;
    const extra = [...st.warnings];
    try {
      await ledgerPart(st, extra);
    } catch (e) {
      extra.push(`The ledger's JSON-RPC (${st.rpc || st.ledger_rpc}) does not answer: ${e.message || e}`);
    }
    warnings(extra);
    banner('');
    setText('live', '● live');
  }

  every(2000, async () => {
    try { await refresh(); } catch (e) { setText('live', '○ node not answering'); throw e; }
  });
})();
