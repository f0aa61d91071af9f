// The TC's operations console: one page, routed on the URL's hash, reading the REST API
// (/api/v1) with the token the operator signs in with. Every value from the TC is put on the page
// as text (textContent), never as HTML: transaction names and reasons come from clients.

const TOKEN_KEY = 'cohort.console.token';
const main = document.getElementById('main');
const nav = document.getElementById('nav');
let refreshTimer = null;

// ---- building blocks ----

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null) el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function show(...nodes) {
  main.replaceChildren(...nodes.filter(n => n !== null && n !== undefined));
}

function time(ms) {
  return ms ? new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC') : '';
}

function age(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 120) return s + ' s';
  if (s < 7200) return Math.round(s / 60) + ' min';
  if (s < 172800) return Math.round(s / 3600) + ' h';
  return Math.round(s / 86400) + ' d';
}

function statusCell(status) {
  return h('span', { class: 'status ' + status }, status);
}

function txLink(xid) {
  return h('a', { href: '#/transaction/' + encodeURIComponent(xid), 'data-xid': xid }, xid);
}

// ---- the API ----

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : 'HTTP ' + status);
    this.status = status;
  }
}

async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  const response = await fetch('/api/v1' + path, { ...options, headers });
  let body = null;
  try { body = parseJson(await response.text()); } catch (e) { /* no JSON body */ }
  if (response.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    signIn(body && body.message ? body.message : 'Sign in with a token.');
    throw new ApiError(401, body);
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

// Branch ids are 64-bit: past 2^53 a JavaScript number would show another id. Such numbers are
// kept as their exact digits (the reviver's source text).
function parseJson(text) {
  return JSON.parse(text, (key, value, context) =>
    typeof value === 'number' && !Number.isSafeInteger(value) && Number.isInteger(value) && context && context.source
      ? context.source : value);
}

function errorBox(e) {
  return h('div', { class: 'error', id: 'error' }, e.message);
}

// ---- sign in ----

function signIn(message) {
  stopRefresh();
  nav.hidden = true;
  const input = h('input', { type: 'password', id: 'token', autocomplete: 'off', placeholder: 'token' });
  show(h('form', {
    class: 'signin', id: 'signin', onsubmit: e => {
      e.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value);
      route();
    }
  },
  h('h1', {}, 'Sign in'),
  h('p', { class: 'muted' }, 'The client token (cohort.tc.auth.token) shows everything; the admin token ',
    '(cohort.tc.auth.admin-token) also allows retry and roll back. The token stays in this tab only.'),
  message ? h('div', { class: 'notice', id: 'signin-message' }, message) : null,
  input,
  h('button', { class: 'primary', type: 'submit', id: 'signin-button' }, 'Sign in')));
  input.focus();
}

document.getElementById('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  signIn('Signed out.');
});

// ---- overview ----

const CHART_POINTS = 60;
const history = [];

function stopRefresh() {
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
}

async function overview() {
  const tiles = h('div', { class: 'tiles', id: 'status-counts' });
  const charts = h('div', { class: 'charts' });
  show(h('h1', {}, 'Overview'), h('h2', {}, 'Transactions now, by status'), tiles,
    h('h2', {}, 'Live (every 2 s, since this page opened)'), charts);
  const draw = async () => {
    const o = await api('/overview');
    tiles.replaceChildren(...Object.entries(o.statusCounts).map(([status, n]) =>
      h('a', { class: 'tile', href: '#/transactions?status=' + status, 'data-status': status },
        h('div', { class: 'n' }, n), statusCell(status))));
    history.push(o.metrics);
    if (history.length > CHART_POINTS + 1) history.shift();
    charts.replaceChildren(
      rateChart('Transactions per second by outcome', ['committed', 'rolled_back', 'failed', 'timed_out'],
        m => m.transactions),
      rateChart('Retries and lock conflicts per second', ['retries', 'lockConflicts'],
        m => ({ retries: m.retries, lockConflicts: m.lockConflicts })),
      latencyChart('Phase-2 commit latency (ms, recent)', 'commit'),
      latencyChart('Phase-2 rollback latency (ms, recent)', 'rollback'));
  };
  await draw();
  stopRefresh();
  refreshTimer = setInterval(() => draw().catch(e => main.prepend(errorBox(e))), 2000);
}

const COLORS = ['#1b7f3b', '#69707d', '#b3261e', '#9a6700', '#2557a7'];

function rateChart(title, keys, pick) {
  const series = keys.map(k => {
    const points = [];
    for (let i = 1; i < history.length; i++) {
      const seconds = (history[i].atMs - history[i - 1].atMs) / 1000 || 1;
      points.push(Math.max(0, (pick(history[i])[k] - pick(history[i - 1])[k]) / seconds));
    }
    return { name: k, points };
  });
  return chart(title, series, '/s');
}

function latencyChart(title, action) {
  const series = ['p50', 'p95', 'p99'].map(p => ({
    name: p,
    points: history.map(m => (m.phase2LatencyMs[action] || {})[p] || 0),
  }));
  return chart(title, series, ' ms');
}

function chart(title, series, unit) {
  const W = 360, H = 110;
  const max = Math.max(1e-9, ...series.flatMap(s => s.points));
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  series.forEach((s, i) => {
    const line = document.createElementNS(ns, 'polyline');
    const step = W / Math.max(1, CHART_POINTS - 1);
    line.setAttribute('points', s.points.map((v, j) => `${j * step},${H - (v / max) * (H - 4) - 2}`).join(' '));
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', COLORS[i % COLORS.length]);
    line.setAttribute('stroke-width', '2');
    svg.append(line);
  });
  const last = s => s.points.length ? s.points[s.points.length - 1] : 0;
  return h('div', { class: 'chart' }, h('strong', {}, title), svg,
    h('div', { class: 'legend' }, series.map((s, i) =>
      h('span', { class: 'c' + (i % COLORS.length) }, `${s.name} ${last(s).toFixed(1)}${unit}`))),
    h('div', { class: 'muted' }, 'scale: 0 to ' + max.toFixed(1) + unit));
}

// ---- transactions ----

const STATUSES = ['BEGIN', 'PRE_COMMITTING', 'PRE_COMMITTED', 'COMMITTING', 'COMMIT_RETRYING', 'ASYNC_COMMITTING',
  'COMMITTED', 'ROLLBACKING', 'ROLLBACK_RETRYING', 'TIMEOUT_ROLLBACKING', 'TIMEOUT_ROLLBACK_RETRYING', 'ROLLBACKED',
  'TIMEOUT_ROLLBACKED', 'COMMIT_FAILED', 'ROLLBACK_FAILED'];
const FINAL = ['COMMITTED', 'ROLLBACKED', 'TIMEOUT_ROLLBACKED'];
const ROLLING_BACK = ['ROLLBACKING', 'ROLLBACK_RETRYING', 'TIMEOUT_ROLLBACKING', 'TIMEOUT_ROLLBACK_RETRYING',
  'ROLLBACK_FAILED'];

async function transactions(params) {
  const status = params.get('status') || '';
  const name = params.get('name') || '';
  const app = params.get('applicationId') || '';
  const older = params.get('olderThanSeconds') || '';
  const page = Number(params.get('page') || 0);
  const size = 50;
  const query = new URLSearchParams({ page, size });
  if (status) query.set('status', status);
  if (name) query.set('name', name);
  if (app) query.set('applicationId', app);
  if (older) query.set('olderThanSeconds', older);
  const result = await api('/transactions?' + query);

  const statusSelect = h('select', { name: 'status', id: 'filter-status' }, h('option', { value: '' }, 'any status'),
    STATUSES.map(s => h('option', { value: s }, s)));
  statusSelect.value = status;
  const filters = h('form', {
    class: 'filters', id: 'filters', onsubmit: e => {
      e.preventDefault();
      const next = new URLSearchParams();
      for (const [k, v] of new FormData(e.target)) if (v) next.set(k, v);
      location.hash = '#/transactions?' + next;
    }
  },
  h('label', {}, 'Status', statusSelect),
  h('label', {}, 'Name contains', h('input', { name: 'name', id: 'filter-name', value: name })),
  h('label', {}, 'Application', h('input', { name: 'applicationId', id: 'filter-app', value: app })),
  h('label', {}, 'Older than (s)', h('input', { name: 'olderThanSeconds', id: 'filter-older', type: 'number', min: 0, value: older })),
  h('button', { type: 'submit', class: 'primary', id: 'filter-apply' }, 'Filter'));

  const rows = result.items.map(tx => h('tr', { 'data-xid': tx.xid },
    h('td', {}, txLink(tx.xid)), h('td', {}, statusCell(tx.status), tx.heuristic ? ' ⚠ heuristic' : ''),
    h('td', {}, tx.name), h('td', {}, tx.applicationId), h('td', {}, tx.protocol),
    h('td', { title: time(tx.beginTimeMs) }, age(tx.beginTimeMs)), h('td', { class: 'reason' }, tx.reason)));
  const pages = Math.max(1, Math.ceil(result.total / size));
  const to = p => { const q = new URLSearchParams(params); q.set('page', p); return '#/transactions?' + q; };
  show(h('h1', {}, 'Transactions'), filters,
    h('div', { class: 'pager' }, h('span', { id: 'total' }, `${result.total} transaction(s)`),
      page > 0 ? h('a', { href: to(page - 1) }, '← newer') : null,
      h('span', {}, `page ${page + 1} of ${pages}`),
      page + 1 < pages ? h('a', { href: to(page + 1), id: 'next-page' }, 'older →') : null),
    h('table', { id: 'transactions' },
      h('thead', {}, h('tr', {}, ['XID', 'Status', 'Name', 'Application', 'Protocol', 'Age', 'Reason'].map(c => h('th', {}, c)))),
      h('tbody', {}, rows)));
}

// What each action does, in the words the confirmation shows.
const ACTIONS = {
  retry: {
    label: 'Retry phase 2',
    allowed: s => s !== 'BEGIN' && !FINAL.includes(s),
    explain: tx => `Retry phase 2 of ${tx.xid} now, with a fresh retry budget: the TC sends every unfinished `
      + `branch its ${ROLLING_BACK.includes(tx.status) ? 'rollback' : 'commit'} again. Fix what made it fail first `
      + '(for a dirty write: put the rows back as the transaction left them), or it fails again.',
  },
  rollback: {
    label: 'Roll back',
    allowed: s => s === 'BEGIN' || ROLLING_BACK.includes(s),
    explain: tx => tx.status === 'BEGIN'
      ? `Roll back ${tx.xid}, which is still running: its TM's commit will be refused and every branch undone.`
      : `Retry the rollback of ${tx.xid}: every branch not yet undone is sent its rollback again.`,
    danger: true,
  },
};

function confirmAction(text) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  return new Promise(resolve => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
  });
}

// Who made a change (the history's cause), as the timeline says it.
const CAUSES = {
  TM: 'by the TM', RM: 'by an RM', TIMEOUT: 'on timeout', TC: 'by the TC (phase 2, recovery)',
  OPERATOR: 'by an operator',
};

async function transaction(xid) {
  const d = await api('/transactions/' + encodeURIComponent(xid));
  const tx = d.transaction;
  const actions = Object.entries(ACTIONS).filter(([, a]) => a.allowed(tx.status)).map(([name, a]) =>
    h('button', {
      class: a.danger ? 'danger' : 'primary', id: 'action-' + name, onclick: async () => {
        if (!await confirmAction(a.explain(tx))) return;
        try {
          await api('/transactions/' + encodeURIComponent(xid) + '/' + name, { method: 'POST' });
          await transaction(xid);
        } catch (e) {
          main.prepend(errorBox(e.status === 403
            ? new Error(e.message + ' (sign in with the admin token to change things)') : e));
        }
      }
    }, a.label));
  // Every status change as the store logged it, oldest first (the API sends them in that order).
  const timeline = d.history.map(c => h('li', { 'data-status': c.status, 'data-cause': c.cause, 'data-branch': c.branchId },
    h('strong', {}, String(c.branchId) === '0' ? c.status : `Branch ${c.branchId} ${c.status === 'REGISTERED' ? 'registered' : c.status}`),
    ' ', h('span', { class: 'muted' }, time(c.atMs)),
    CAUSES[c.cause] ? h('span', { class: 'cause ' + c.cause }, CAUSES[c.cause]) : null,
    c.reason ? ' — ' + c.reason : ''));
  show(h('h1', {}, 'Transaction ', h('code', { id: 'xid' }, tx.xid)),
    tx.heuristic ? h('div', { class: 'evidence', id: 'heuristic' },
      h('strong', {}, 'Heuristic outcome: branches ended differently. '), tx.heuristicEvidence) : null,
    h('dl', { class: 'facts' },
      h('dt', {}, 'Status'), h('dd', { id: 'status' }, statusCell(tx.status)),
      h('dt', {}, 'Reason'), h('dd', { id: 'reason' }, tx.reason || '—'),
      h('dt', {}, 'Name'), h('dd', {}, tx.name),
      h('dt', {}, 'Application'), h('dd', {}, tx.applicationId),
      h('dt', {}, 'Protocol'), h('dd', {}, tx.protocol),
      h('dt', {}, 'Began'), h('dd', {}, time(tx.beginTimeMs), ' (', age(tx.beginTimeMs), ' ago)'),
      h('dt', {}, 'Status since'), h('dd', {}, time(tx.updatedAtMs))),
    h('div', { class: 'actions' }, actions.length ? actions
      : h('span', { class: 'muted' }, 'No action applies in this status.')),
    h('h2', {}, 'Timeline'),
    h('ol', { class: 'timeline', id: 'timeline' }, timeline),
    h('h2', {}, 'Branches'),
    h('table', { id: 'branches' },
      h('thead', {}, h('tr', {}, ['Branch', 'Resource', 'RM (client id)', 'Status', 'Registered', 'Lock keys', 'Attempts', 'Last error / reason']
        .map(c => h('th', {}, c)))),
      h('tbody', {}, d.branches.map(b => h('tr', { 'data-branch': b.branchId },
        h('td', {}, b.branchId), h('td', {}, b.resourceId), h('td', {}, b.clientId), h('td', {}, statusCell(b.status)),
        h('td', {}, time(b.registeredAtMs)), h('td', { class: 'keys' }, b.lockKeys.join(' ')),
        h('td', { class: 'attempts', title: 'phase-2 commands sent by this TC replica, retries included' }, b.attempts),
        h('td', { class: 'reason' }, b.reason))))),
    h('h2', {}, 'Global locks held'),
    locksTable(d.locks, 'tx-locks'));
}

function locksTable(locks, id) {
  return locks.length === 0 ? h('p', { class: 'muted', id }, 'None.') : h('table', { id },
    h('thead', {}, h('tr', {}, ['Resource', 'Table', 'Primary key', 'Transaction', 'Branch', 'Held for']
      .map(c => h('th', {}, c)))),
    h('tbody', {}, locks.map(l => h('tr', {},
      h('td', {}, l.resourceId), h('td', {}, l.table), h('td', {}, l.pk), h('td', {}, txLink(l.xid)),
      h('td', {}, l.branchId), h('td', { title: time(l.acquiredAtMs) }, age(l.acquiredAtMs))))));
}

async function locks(params) {
  const page = Number(params.get('page') || 0);
  const resource = params.get('resourceId') || '';
  const query = new URLSearchParams({ page, size: 100 });
  if (resource) query.set('resourceId', resource);
  const result = await api('/locks?' + query);
  show(h('h1', {}, 'Global locks'),
    h('form', {
      class: 'filters', onsubmit: e => {
        e.preventDefault();
        const v = new FormData(e.target).get('resourceId');
        location.hash = '#/locks' + (v ? '?resourceId=' + encodeURIComponent(v) : '');
      }
    }, h('label', {}, 'Resource', h('input', { name: 'resourceId', value: resource })),
    h('button', { type: 'submit', class: 'primary' }, 'Filter')),
    h('p', { id: 'total' }, `${result.total} lock(s), oldest first`),
    locksTable(result.items, 'locks'));
}

async function rms() {
  const list = await api('/rms');
  show(h('h1', {}, 'Connected RMs'),
    list.length === 0 ? h('p', { class: 'muted', id: 'rms' }, 'No RM is connected to this TC.') : h('table', { id: 'rms' },
      h('thead', {}, h('tr', {}, ['Client id', 'Application', 'Resources'].map(c => h('th', {}, c)))),
      h('tbody', {}, list.map(r => h('tr', {}, h('td', {}, r.clientId), h('td', {}, r.applicationId),
        h('td', {}, [...r.resourceIds].sort().join(', ')))))));
}

// ---- routing ----

async function route() {
  stopRefresh();
  if (!sessionStorage.getItem(TOKEN_KEY) && !(await authenticationOff())) {
    signIn();
    return;
  }
  nav.hidden = false;
  const [path, queryText] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(queryText || '');
  try {
    if (path.startsWith('/transaction/')) await transaction(decodeURIComponent(path.slice('/transaction/'.length)));
    else if (path === '/transactions') await transactions(params);
    else if (path === '/locks') await locks(params);
    else if (path === '/rms') await rms();
    else await overview();
  } catch (e) {
    if (e.status !== 401) show(errorBox(e));
  }
}

// A TC without tokens answers without one: no sign-in needed then.
async function authenticationOff() {
  const response = await fetch('/api/v1/rms', { headers: { Accept: 'application/json' } });
  return response.ok;
}

window.addEventListener('hashchange', route);
route();
