// CONET explorer: the ledger as this node's JSON-RPC serves it (docs/rpc.md),
// kept live by the newHeads WebSocket subscription.
'use strict';

(() => {
  const { rpc, h, setText, fill, table, amount, short, badge, tierBadge, banner, every } = conet;
  const rpcUrl = `${location.origin}/`;
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
  const call = (method, params) => rpc(rpcUrl, method, params);
  const keepBlocks = 12;
  const blocks = new Map();  // height -> block (header, transactions, certificate…)
  const keepTxs = 25;
  const txs = [];  // [id, height, index], newest first
  let validatorsOfHead = [];

  const link = (text, onclick) => h('a', { onclick: (e) => { e.preventDefault(); onclick(); }, href: '#' }, text);
  const ago = (t) => {
    const s = Math.max(0, Math.round(Date.now() / 1000 - t));
    return s < 2 ? 'just now' : `${conet.duration(s)} ago`;
  };

  function finality(b, validators) {
    const votes = (b.certificate || []).length;
    if (votes) return `final: certified by ${votes} of ${validators.length || '?'} validator(s)`;
    if (b.finalized_by) return 'final: finalized by a certified descendant';
    return 'final: committed (certificate carried by its successor)';
  }

  function renderHead() {
    const heights = [...blocks.keys()].sort((a, b) => b - a);
    if (!heights.length) return;
    const b = blocks.get(heights[0]);
    setText('head-height', `#${b.header.height}`);
    conet.$('head-height').dataset.hash = b.header.hash;
    setText('head-final', finality(b, validatorsOfHead));
    setText('head-hash', short(b.header.hash, 10));
    setText('head-proposer', b.header.proposer);
    setText('head-time', `${new Date(b.header.time * 1000).toISOString().replace('T', ' ').slice(0, 19)} UTC (${ago(b.header.time)})`);
    fill('blocks', table(['#height', 'hash', 'view', 'proposer', '#transactions', '#votes', 'time'],
      heights.map((ht) => {
        const x = blocks.get(ht);
        return [link(String(ht), () => showBlock(ht)), h('span', { class: 'mono' }, short(x.header.hash)), x.header.view,
                h('span', { class: 'mono' }, short(x.header.proposer, 6)), x.transactions.length,
                (x.certificate || []).length, ago(x.header.time)];
      })));
    fill('txs', table(['transaction', '#block', '#index'],
      txs.map(([id, ht, i]) => [link(h('span', { class: 'mono tx-id' }, id), () => showTx(id)), link(String(ht), () => showBlock(ht)), i]),
      'no transactions in recent blocks'));
  }

  function addBlock(b) {
    if (!blocks.has(b.header.height)) {
      b.transactions.forEach((id, i) => txs.unshift([id, b.header.height, i]));
      txs.sort((x, y) => y[1] - x[1] || y[2] - x[2]);
      txs.length = Math.min(txs.length, keepTxs);
    }
    blocks.set(b.header.height, b);
    while (blocks.size > keepBlocks) blocks.delete(Math.min(...blocks.keys()));
    if (b.validators) validatorsOfHead = b.validators;
  }

  function kvList(pairs) {
    return h('dl', { class: 'kv' }, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }
  function result(title, ...body) { fill('search-result', h('h3', {}, title), ...body); }

  async function showBlock(height) {
    const b = await call('conet_getBlockByHeight', [Number(height)]);
    result(`Block #${b.header.height}`, kvList([
      ['hash', h('span', { class: 'mono' }, b.header.hash)], ['parent', h('span', { class: 'mono' }, b.header.parent)],
      ['view', `${b.header.view} (parent ${b.header.parent_view})`], ['proposer', b.header.proposer],
      ['time', new Date(b.header.time * 1000).toISOString()], ['state root', h('span', { class: 'mono' }, b.header.state_root)],
      ['certificate', `${(b.certificate || []).length} finalize vote(s): ${(b.certificate || []).map((v) => `#${v.validator}`).join(', ') || '—'}`],
      ['parent certificate', `${b.parent_certificate.kind}, ${b.parent_certificate.votes.length} vote(s)`],
      ['transactions', b.transactions.length ? h('div', {}, b.transactions.map((id) => h('div', {}, link(h('span', { class: 'mono' }, id), () => showTx(id))))) : 'none'],
    ]));
  }

  async function showTx(id) {
    const t = await call('conet_getTransaction', [id]);
    const addr = (a) => link(h('span', { class: 'mono' }, a), () => showAccount(a));
    const details = [
      ['kind', t.kind ? h('span', { class: 'tx-kind' }, t.kind) : null], ['from', t.from ? addr(t.from) : null],
      ['to', t.to ? addr(t.to) : null], ['amount', t.amount !== undefined ? h('span', { class: 'tx-amount' }, amount(t.amount)) : null],
      ['node', t.node ? link(h('span', { class: 'mono' }, short(t.node)), () => showNode(t.node)) : null],
      ['epoch', t.epoch], ['receipts', t.receipts], ['nonce', t.nonce], ['fee', t.fee !== undefined ? amount(t.fee) : null],
    ].filter(([, v]) => v !== undefined && v !== null);
    result(`Transaction ${short(id)}`, kvList([
      ['id', h('span', { class: 'mono' }, id)], ['status', badge(t.status, t.status === 'committed' ? 'good' : 'warn')],
      ['block', t.height !== undefined ? link(String(t.height), () => showBlock(t.height)) : '—'],
      ['index', t.index !== undefined ? t.index : '—'], ...details,
    ]));
  }

  async function showAccount(address) {
    const a = await call('conet_getAccount', [address]);
    const r = await call('conet_getRewards', [address, null]);
    result(`Account ${a.address}`, kvList([
      ['balance', h('span', { class: 'account-balance' }, amount(a.balance))], ['nonce', a.nonce],
      ['prepaid (for usage)', amount(a.prepaid)], ['withdrawing', amount(a.withdrawing)],
      ['exists', a.exists ? 'yes' : 'no'],
      ['latest reward', r.latest ? `${amount(r.latest.total)} in epoch ${r.latest.epoch}` : 'none'],
      ['proof', `${a.proof.siblings.length} sibling(s) under state root ${short(a.state_root)} at height ${a.height}`],
    ]));
  }

  async function showNode(key) {
    const n = await call('conet_getNode', [key]);
    if (!n.record) return result(`Node ${short(key)}`, h('p', {}, 'No such node on the ledger.'));
    result(`Node ${short(key)}`, kvList([
      ['operator', n.record.operator], ['region', n.record.region], ['endpoints', n.record.endpoints.join(', ')],
      ['capabilities', n.record.capabilities.join(', ')], ['stake', amount(n.stake)],
      ['record expires', new Date(n.record.expires_at * 1000).toISOString()],
      ['proof', `${n.proof.siblings.length} sibling(s) under state root ${short(n.state_root)} at height ${n.height}`],
    ]));
  }

  async function search(q) {
    q = q.trim();
    try {
      if (/^\d+$/.test(q)) await showBlock(q);
      else if (/^0x[0-9a-fA-F]{40}$/.test(q)) await showAccount(q);
      else if (/^[0-9a-fA-F]{64}$/.test(q)) await showNode(q);
      else if (/^0x[0-9a-fA-F]{64}$/.test(q)) {
        const t = await call('conet_getTransaction', [q]);
        if (t.status !== 'unknown') await showTx(q);
        else await call('conet_getBlockByHash', [q]).then((b) => showBlock(b.header.height), () => showTx(q));
      } else result('Not understood', h('p', {}, 'Enter a block height, a 0x-prefixed block hash or transaction id (64 hex), an address (0x + 40 hex) or a node key (64 hex).'));
    } catch (e) {
      result('Not found', h('p', {}, String(e.message || e)));
    }
  }

  async function refreshEpoch() {
    const e = await call('conet_getEpoch', []);
    setText('epoch', `epoch ${e.epoch}`);
    setText('epoch-blocks', e.epoch_blocks ? `${e.first_height}–${e.last_height} (${e.epoch_blocks} per epoch)` : 'no epochs on this chain');
    setText('epoch-emission', amount(e.emission));
    setText('epoch-validators', e.validators);
    setText('epoch-nodes', e.nodes);
    setText('fund-balance', amount(e.developer_fund.balance));
    setText('fund-address', e.developer_fund.address);

    const summaries = [];
    if (e.last) {
      for (let ep = e.last.epoch; ep >= 0 && ep > e.last.epoch - 5; --ep) {
        try { summaries.push(await call('conet_getEpoch', [ep])); } catch { break; }
      }
    }
    fill('rewards', table(['#epoch', '#emission', '#nodes', '#validators', '#fund', '#not minted', '#nodes paid'],
      summaries.map((s) => [s.epoch, amount(s.emission), amount(s.node_pool), amount(s.validator_pool), amount(s.fund),
                            amount(s.not_minted), `${s.nodes_paid} of ${s.nodes_measured}`]),
      'no epoch paid yet'));

    const set = await call('conet_getValidatorSet', []);
    const votes = new Map((e.votes || []).map((v) => [String(v.validator).toLowerCase(), v.votes]));
    fill('validators', table(['validator', '#stake', '#votes this epoch'],
      set.members.map((m, i) => {
        const bond = (set.bonds_now || []).find((b) => b.address.toLowerCase() === m.toLowerCase());
        return [h('span', { class: 'mono' }, `#${i} ${short(m, 6)}`), bond ? amount(bond.stake) : '—', votes.get(m.toLowerCase()) || 0];
      })));

    const g = await call('conet_getGrants', []);
    setText('fund-grants', `${g.total} (${g.grants.filter((x) => x.status === 'open').length} open)`);
    fill('grants', table(['id', 'recipient', '#amount', 'status', '#approvals'],
      g.grants.map((x) => [h('span', { class: 'mono' }, short(x.id, 6)), h('span', { class: 'mono' }, short(x.recipient, 6)), amount(x.amount),
                           badge(x.status, x.status === 'paid' ? 'good' : x.status === 'open' ? 'warn' : ''),
                           `${x.approving_validators} of ${x.voting_validators} validators`]),
      'no grants proposed'));
  }

  async function refreshNodes() {
    const s = await call('conet_getScores', [0, 500]);
    const rows = [...s.nodes].sort((a, b) => a.region.localeCompare(b.region) || b.stake - a.stake);
    fill('nodes', table(['region', 'node', 'operator', '#stake', 'tier', '#score', 'state', '#last reward'],
      rows.map((n) => [n.region, link(h('span', { class: 'mono' }, short(n.node, 8)), () => showNode(n.node)),
                       link(h('span', { class: 'mono' }, short(n.operator, 6)), () => showAccount(n.operator)),
                       amount(n.stake), tierBadge(n.last && n.last.tier), n.last ? `${(n.last.score_bps / 100).toFixed(1)}%` : '—',
                       n.jailed ? badge('jailed', 'bad') : badge('active', 'good'), n.last ? amount(n.last.reward) : '—']),
      'no nodes registered'));
  }

  async function start() {
    setText('chain', String(await call('conet_chainId', [])));
    const head = await call('conet_blockNumber', []);
    const first = Math.max(0, head - keepBlocks + 1);
    for (let ht = first; ht <= head; ++ht) {
      try { addBlock(await call('conet_getBlockByHeight', [ht])); } catch { /* pruned or not yet there */ }
    }
    try { validatorsOfHead = (await call('conet_getHeader', [])).validators || []; } catch { /* an old node */ }
    renderHead();
    conet.subscribeHeads(wsUrl, (b) => { addBlock(b); renderHead(); banner(''); },
      (up) => setText('live', up ? '● live' : '○ reconnecting…'));
    every(5000, refreshEpoch);
    every(5000, refreshNodes);
    setInterval(() => {
      const top = Math.max(...blocks.keys());
      if (blocks.has(top)) setText('head-time', `${new Date(blocks.get(top).header.time * 1000).toISOString().replace('T', ' ').slice(0, 19)} UTC (${ago(blocks.get(top).header.time)})`);
    }, 1000);
    conet.$('search-form').addEventListener('submit', (e) => { e.preventDefault(); search(conet.$('search').value); });
  }

  start().catch((e) => banner(`Cannot read this node's JSON-RPC: ${e.message || e}`));
})();
