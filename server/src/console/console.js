// The annal audit log console: filters a window of the tenant's log, pages
// through it, exports it and checks the chain, all through the /v1 API with
// the signed-in key. Every value from the server is client-written data: it
// is only ever rendered as text (textContent, text nodes, createElement).
(() => {
  'use strict';

  // ------------------------------------------------------------------
  // State and URL
  // ------------------------------------------------------------------

  const KEY_STORAGE = 'annal.console.key';
  const KEY_SHAPE = /^ak_[0-9a-f]{16}_\S+$/i;
  const REFUSED = 'The key was refused (revoked or wrong). Sign in again.';
  const HOUR_MS = 3600 * 1000;
  const DAY_MS = 24 * HOUR_MS;
  const PRESETS = new Map([['24h', DAY_MS], ['7d', 7 * DAY_MS], ['30d', 30 * DAY_MS]]);
  const DEFAULT_PRESET = '7d';
  const LIMITS = [25, 50, 100, 250];
  const DEFAULT_LIMIT = 50;
  const OUTCOMES = ['success', 'failure', 'denied'];
  // Filters that pass unchanged between form, page URL and API: [parameter, control id].
  const PLAIN_FILTERS = [
    ['actor', 'f-actor'],
    ['on_behalf_of', 'f-on-behalf-of'],
    ['target', 'f-target'],
    ['session', 'f-session'],
    ['key_ref', 'f-key-ref'],
    ['outcome', 'f-outcome'],
  ];
  // Longer windows get daily bars: hourly ones would be too many to read.
  const HOURLY_MAX_MS = 3 * DAY_MS;
  // Export progress is redrawn at most this often, so counting stays cheap.
  const PROGRESS_INTERVAL_MS = 200;
  // A saved export's object URL lives this long: some browsers read it after click() returns.
  const REVOKE_AFTER_MS = 60 * 1000;
  // RFC 3339 as the API writes it: date, time, optional fraction, Z or offset.
  const RFC3339 = /^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

  const byId = (id) => document.getElementById(id);
  const els = {
    status: byId('status'),
    signin: byId('signin'),
    key: byId('key'),
    signinSubmit: byId('signin-submit'),
    signinError: byId('signin-error'),
    app: byId('app'),
    appTitle: byId('app-title'),
    tenant: byId('tenant'),
    whoami: byId('whoami'),
    signout: byId('signout'),
    filters: byId('filters'),
    preset: byId('f-preset'),
    from: byId('f-from'),
    to: byId('f-to'),
    action: byId('f-action'),
    actionMode: byId('f-action-mode'),
    order: byId('f-order'),
    limit: byId('f-limit'),
    clear: byId('f-clear'),
    actionNames: byId('action-names'),
    windowInfo: byId('window-info'),
    table: byId('rows'),
    caption: document.querySelector('#rows caption'),
    tbody: document.querySelector('#rows tbody'),
    rowsWrap: byId('rows-wrap'),
    pageNewer: byId('page-newer'),
    pageOlder: byId('page-older'),
    pageInfo: byId('page-info'),
    chartTitle: byId('chart-title'),
    chart: byId('chart'),
    chartAxis: byId('chart-axis'),
    chartSummary: byId('chart-summary'),
    exportCsv: byId('export-csv'),
    exportNdjson: byId('export-ndjson'),
    exportBundle: byId('export-bundle'),
    exportProgress: byId('export-progress'),
    exportStatus: byId('export-status'),
    exportCancel: byId('export-cancel'),
    verifyStatus: byId('verify-status'),
    verifyNow: byId('verify-now'),
    head: byId('head'),
    checkpoint: byId('checkpoint'),
    retention: byId('retention'),
    legalHold: byId('legal-hold'),
    deletedBefore: byId('deleted-before'),
    detail: byId('detail'),
    detailTitle: byId('detail-title'),
    detailClose: byId('detail-close'),
    detailFields: byId('detail-fields'),
    detailDiff: document.querySelector('#detail-diff tbody'),
    detailMetadata: byId('detail-metadata'),
    detailRedactions: byId('detail-redactions'),
  };

  // The key lives here and in sessionStorage only (see readStoredKey).
  let apiKey = null;

  const state = {
    filters: null, // the applied filters (defaultFilters() shape)
    window: { from: null, to: null }, // the applied window in ms; null = open
    records: new Map(), // seq (string) → row of the page shown
    histogram: null, // the applied filters' histogram, once loaded
    verified: false,
    exporting: false,
    detailOpener: null,
  };

  // Page i of the current filters was fetched with cursors[i] (null for the
  // first) and showed counts[i] rows; going back re-fetches exactly that page.
  const paging = { cursors: [null], counts: [], index: 0, next: null };

  function defaultFilters() {
    return {
      preset: DEFAULT_PRESET,
      from: null,
      to: null,
      actor: '',
      on_behalf_of: '',
      target: '',
      session: '',
      key_ref: '',
      outcome: '',
      action: '',
      action_mode: 'prefix',
      order: 'desc',
      limit: DEFAULT_LIMIT,
    };
  }

  // ms since the epoch, or null when `text` is not RFC 3339.
  function parseRfc3339(text) {
    const m = RFC3339.exec(text);
    if (!m) return null;
    // Date.parse is only specified for millisecond fractions: the API writes nanoseconds.
    const fraction = (m[3] || '.000').padEnd(4, '0').slice(0, 4);
    const ms = Date.parse(`${m[1]}T${m[2]}${fraction}${m[4].toUpperCase()}`);
    return Number.isNaN(ms) ? null : ms;
  }

  function toRfc3339(ms) {
    return new Date(ms).toISOString().replace('.000Z', 'Z');
  }

  // The filters a console URL's query string describes; anything unknown falls back to the default.
  function filtersFromQuery(search) {
    const q = new URLSearchParams(search);
    const f = defaultFilters();
    const preset = q.get('preset');
    const from = parseRfc3339(q.get('from') || '');
    const to = parseRfc3339(q.get('to') || '');
    if (PRESETS.has(preset)) {
      f.preset = preset;
    } else if (preset === 'custom' || from !== null || to !== null) {
      f.preset = 'custom';
      f.from = from;
      f.to = to;
    }
    for (const [name] of PLAIN_FILTERS) f[name] = (q.get(name) || '').trim();
    if (!OUTCOMES.includes(f.outcome)) f.outcome = '';
    f.action = (q.get('action') || '').trim();
    if (q.get('action_mode') === 'exact') f.action_mode = 'exact';
    if (q.get('order') === 'asc') f.order = 'asc';
    const limit = Number(q.get('limit'));
    if (LIMITS.includes(limit)) f.limit = limit;
    return f;
  }

  // The query string of the console URL for `f` over its resolved window
  // `win`: never a key or a cursor. A preset's from/to say which window was
  // shown; loading the URL resolves the preset again (filtersFromQuery).
  function filtersToQuery(f, win) {
    const q = new URLSearchParams();
    q.set('preset', f.preset);
    if (win.from !== null) q.set('from', toRfc3339(win.from));
    if (win.to !== null) q.set('to', toRfc3339(win.to));
    for (const [name] of PLAIN_FILTERS) if (f[name]) q.set(name, f[name]);
    if (f.action) {
      q.set('action', f.action);
      q.set('action_mode', f.action_mode);
    }
    q.set('order', f.order);
    q.set('limit', String(f.limit));
    // ':' is legal in a query: keeping it unescaped leaves bookmarked times readable.
    return q.toString().replace(/%3A/gi, ':');
  }

  // The concrete window of `f` at time `now`: presets end at the next whole second.
  function resolveWindow(f, now) {
    if (f.preset === 'custom') return { from: f.from, to: f.to };
    const to = Math.ceil(now / 1000) * 1000;
    return { from: to - PRESETS.get(f.preset), to };
  }

  // The API filter parameters of `f` over `win`; only the filters that have a value.
  function filterParams(f, win) {
    const q = new URLSearchParams();
    if (win.from !== null) q.set('from', toRfc3339(win.from));
    if (win.to !== null) q.set('to', toRfc3339(win.to));
    for (const [name] of PLAIN_FILTERS) if (f[name]) q.set(name, f[name]);
    if (f.action) {
      if (f.action_mode === 'exact') {
        q.set('action', f.action);
      } else {
        const prefix = f.action.replace(/\.$/, '');
        if (prefix) q.set('action_prefix', prefix);
      }
    }
    return q;
  }

  // datetime-local carries no time zone: this console reads and writes it as UTC.
  function toInputValue(ms) {
    return ms === null ? '' : new Date(ms).toISOString().slice(0, 19);
  }

  function fromInputValue(value) {
    const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(:\d{2})?/.exec(value);
    if (!m) return null;
    const ms = Date.parse(`${m[1]}${m[2] || ':00'}Z`);
    return Number.isNaN(ms) ? null : ms;
  }

  function readForm() {
    const f = defaultFilters();
    f.preset = els.preset.value;
    if (f.preset === 'custom') {
      f.from = fromInputValue(els.from.value);
      f.to = fromInputValue(els.to.value);
    }
    for (const [name, id] of PLAIN_FILTERS) f[name] = byId(id).value.trim();
    f.action = els.action.value.trim();
    f.action_mode = els.actionMode.value;
    f.order = els.order.value;
    f.limit = Number(els.limit.value);
    return f;
  }

  function writeForm(f, win) {
    els.preset.value = f.preset;
    els.from.value = toInputValue(win.from);
    els.to.value = toInputValue(win.to);
    for (const [name, id] of PLAIN_FILTERS) byId(id).value = f[name];
    els.action.value = f.action;
    els.actionMode.value = f.action_mode;
    els.order.value = f.order;
    els.limit.value = String(f.limit);
  }

  // Makes `filters` the applied ones: form, page URL, then every view reloads.
  // historyMode: 'push' (a new history entry), 'replace', or 'none' (popstate).
  function applyFilters(filters, historyMode, { skipOverview = false } = {}) {
    const win = resolveWindow(filters, Date.now());
    state.filters = filters;
    state.window = win;
    state.histogram = null;
    writeForm(filters, win);
    renderWindowInfo(win);
    if (historyMode !== 'none') {
      const query = filtersToQuery(filters, win);
      const url = `${location.pathname}?${query}`;
      // Re-applying the same filters refreshes the data without a duplicate history entry.
      if (historyMode === 'push' && location.search !== `?${query}`) history.pushState(null, '', url);
      else history.replaceState(null, '', url);
    }
    clearStatus();
    resetPaging();
    // The page first: it is what the reader waits for.
    loadPage(0, null, true);
    if (!skipOverview) loadOverview();
    loadActions();
    loadHistogram();
    updateExportButtons();
  }

  function renderWindowInfo(win) {
    const from = win.from === null ? null : formatUtc(win.from);
    const to = win.to === null ? null : formatUtc(win.to);
    let text;
    if (from && to) text = `Window: ${from} to ${to}`;
    else if (from) text = `Window: from ${from}, no end`;
    else if (to) text = `Window: everything before ${to}`;
    else text = 'Window: all time';
    els.windowInfo.textContent = text;
  }

  // ------------------------------------------------------------------
  // API
  // ------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, problem) {
      const title = problem && problem.title ? String(problem.title) : `HTTP ${status}`;
      const detail = problem && problem.detail ? String(problem.detail) : '';
      super(detail ? `${title}: ${detail}` : title);
      this.name = 'ApiError';
      this.status = status;
      this.detail = detail || title;
      this.fieldErrors = problem && Array.isArray(problem.errors)
        ? problem.errors.map((e) => `${text(e && e.field)}: ${text(e && e.detail)}`)
        : [];
    }
  }

  // Superseded requests are aborted, so a slow answer never overwrites a newer one.
  const inflight = new Map();

  function startRequest(name) {
    const previous = inflight.get(name);
    if (previous) previous.abort();
    const controller = new AbortController();
    inflight.set(name, controller);
    return controller.signal;
  }

  function abortAll() {
    for (const controller of inflight.values()) controller.abort();
    inflight.clear();
  }

  function request(path, signal, key = apiKey) {
    return fetch(path, { headers: { Authorization: `Bearer ${key}` }, cache: 'no-store', signal });
  }

  async function errorFrom(res) {
    let problem = null;
    try {
      problem = await res.json();
    } catch {
      // Not a problem document (a proxy's page, say): the status says enough.
    }
    return new ApiError(res.status, problem && typeof problem === 'object' ? problem : null);
  }

  async function getJson(path, signal, key = apiKey) {
    const res = await request(path, signal, key);
    if (!res.ok) throw await errorFrom(res);
    return res.json();
  }

  function describeError(err) {
    if (err instanceof ApiError) return err.message;
    if (err instanceof TypeError) return 'the server could not be reached';
    if (err instanceof SyntaxError) return 'the server sent an answer that is not JSON';
    return String((err && err.message) || err);
  }

  // Reports a failed request in #status; a refused key ends the session.
  function reportError(err, context) {
    if (err instanceof ApiError && err.status === 401) {
      signOut(REFUSED);
      return;
    }
    const fieldErrors = err instanceof ApiError ? err.fieldErrors : [];
    showStatus(`${context}: ${describeError(err)}`, 'error', fieldErrors);
  }

  // ------------------------------------------------------------------
  // Rendering
  // ------------------------------------------------------------------

  const NONE = '—';
  const ACTOR_TYPES = new Map([['user', 'user'], ['ai', 'AI agent'], ['system', 'system'], ['api_key', 'API key']]);

  // A server value as display text; absent values show as a dash.
  function text(value) {
    if (value === undefined || value === null || value === '') return NONE;
    return typeof value === 'string' ? value : JSON.stringify(value);
  }

  function fmt(n) {
    return Number(n).toLocaleString('en-US');
  }

  function plural(n, one, many) {
    return `${fmt(n)} ${n === 1 ? one : many}`;
  }

  function formatBytes(bytes) {
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let value = bytes;
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit += 1;
    }
    return `${value.toLocaleString('en-US', { maximumFractionDigits: unit === 0 ? 0 : 1 })} ${units[unit]}`;
  }

  // "2026-07-02 13:04:05Z" for ms since the epoch.
  function formatMs(ms) {
    const date = new Date(ms);
    if (Number.isNaN(date.getTime())) return NONE;
    const iso = date.toISOString();
    return `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;
  }

  // "2026-07-02 13:04:05Z" for an RFC 3339 time; other text is shown as it is.
  function formatTime(value) {
    if (typeof value !== 'string') return text(value);
    const m = RFC3339.exec(value);
    // Z times are cut, not parsed, so sub-millisecond digits never round a second up.
    if (m && m[4].toUpperCase() === 'Z') return `${m[1]} ${m[2]}Z`;
    const ms = parseRfc3339(value);
    return ms === null ? value : formatMs(ms);
  }

  // The same times for prose: "2026-07-02 13:04:05 UTC".
  function formatUtc(msOrText) {
    const formatted = typeof msOrText === 'number' ? formatMs(msOrText) : formatTime(msOrText);
    return formatted.replace(/Z$/, ' UTC');
  }

  // Nanoseconds since the epoch (beyond 2^53, so maybe a string) to milliseconds.
  function nsToMs(ns) {
    if (typeof ns === 'string' && /^\d+$/.test(ns)) return Number(BigInt(ns) / 1000000n);
    return Math.floor(Number(ns) / 1e6);
  }

  function el(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    node.append(...children); // strings become text nodes
    return node;
  }

  function showStatus(message, kind = 'info', details = []) {
    els.status.classList.toggle('is-error', kind === 'error');
    const nodes = [el('p', '', message)];
    if (details.length) nodes.push(el('ul', '', ...details.map((d) => el('li', '', d))));
    els.status.replaceChildren(...nodes);
  }

  function clearStatus() {
    els.status.classList.remove('is-error');
    els.status.replaceChildren();
  }

  function actorCell(actor) {
    const type = typeof actor.type === 'string' ? actor.type : '';
    const td = el('td', 'c-actor', el('span', 'tag tag-type', ACTOR_TYPES.get(type) || type || 'unknown'), ' ');
    td.append(el('span', 'who', text(actor.name || actor.id)));
    if (actor.name && actor.id && actor.name !== actor.id) td.append(' ', el('span', 'sub', text(actor.id)));
    if (actor.on_behalf_of) td.append(' ', el('span', 'sub', `on behalf of ${text(actor.on_behalf_of)}`));
    return td;
  }

  function targetCell(target) {
    if (!target || typeof target !== 'object') return el('td', 'c-target muted', NONE);
    const ref = [target.type, target.id].filter((part) => part !== undefined && part !== null).map(text).join(':');
    const td = el('td', 'c-target', el('span', 'code', ref || NONE));
    if (target.name) td.append(' ', el('span', 'sub', text(target.name)));
    return td;
  }

  function outcomeCell(outcome) {
    if (outcome === undefined || outcome === null) return el('td', 'c-outcome muted', NONE);
    const known = OUTCOMES.includes(outcome) ? ` outcome-${outcome}` : '';
    return el('td', 'c-outcome', el('span', `tag outcome${known}`, text(outcome)));
  }

  function buildRow(record) {
    const event = record.event && typeof record.event === 'object' ? record.event : {};
    const actor = event.actor && typeof event.actor === 'object' ? event.actor : {};
    const tr = el(
      'tr',
      'row',
      el('td', 'c-time', formatTime(record.recorded_at)),
      actorCell(actor),
      el('td', 'c-action', el('span', 'code', text(event.action))),
      targetCell(event.target),
      outcomeCell(event.outcome),
      el('td', 'c-ip', text(event.ip)),
    );
    tr.dataset.seq = String(record.seq);
    tr.tabIndex = 0;
    return tr;
  }

  function messageRow(message) {
    const td = el('td', 'message', message);
    td.colSpan = 6;
    return el('tr', 'empty', td);
  }

  function renderRows(records, emptyMessage) {
    state.records = new Map();
    const fragment = document.createDocumentFragment();
    for (const record of records) {
      state.records.set(String(record.seq), record);
      fragment.append(buildRow(record));
    }
    if (!records.length) fragment.append(messageRow(emptyMessage));
    els.tbody.replaceChildren(fragment);
  }

  function setTableBusy(busy) {
    els.rowsWrap.setAttribute('aria-busy', String(busy));
    if (busy) els.pageInfo.textContent = 'Loading…';
  }

  // The detail dialog's fields, in order: where each is read from and its name.
  const DETAIL_FIELDS = [
    ['row', 'seq'], ['row', 'recorded_at'], ['event', 'action'],
    ['event', 'actor.type'], ['event', 'actor.id'], ['event', 'actor.name'], ['event', 'actor.email'],
    ['event', 'actor.on_behalf_of'], ['event', 'occurred_at'], ['event', 'session_id'],
    ['event', 'target.type'], ['event', 'target.id'], ['event', 'target.name'], ['event', 'outcome'],
    ['event', 'ip'], ['event', 'user_agent'], ['event', 'input_hash'], ['event', 'output_hash'],
    ['event', 'key_ref'], ['event', 'idempotency_key'], ['row', 'policy_version'], ['row', 'leaf'], ['row', 'head'],
  ];
  const HASH_FIELDS = new Set(['input_hash', 'output_hash', 'leaf', 'head']);

  function isPlainObject(value) {
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  }

  // The value at a dotted path of own properties (never an inherited one).
  function lookup(object, path) {
    let value = object;
    for (const key of path.split('.')) {
      if (!isPlainObject(value) || !Object.hasOwn(value, key)) return undefined;
      value = value[key];
    }
    return value;
  }

  function isChange(value) {
    if (!isPlainObject(value)) return false;
    const keys = Object.keys(value);
    return keys.length > 0 && keys.every((k) => k === 'from' || k === 'to');
  }

  // A diff as rows {field, before, after} (undefined = absent), for the two
  // documented shapes: {field: {from, to}} (nested objects give dotted fields)
  // and {before: {...}, after: {...}}. Null for anything else.
  function flattenDiff(diff) {
    if (!isPlainObject(diff)) return null;
    const rows = [];
    const walk = (node, prefix) => Object.entries(node).every(([key, value]) => {
      const field = prefix ? `${prefix}.${key}` : key;
      if (isChange(value)) {
        rows.push({ field, before: lookup(value, 'from'), after: lookup(value, 'to') });
        return true;
      }
      return isPlainObject(value) && Object.keys(value).length > 0 && walk(value, field);
    });
    if (walk(diff, '')) return rows;
    const keys = Object.keys(diff);
    const beforeAfter = keys.length > 0
      && keys.every((k) => (k === 'before' || k === 'after') && isPlainObject(diff[k]));
    if (!beforeAfter) return null;
    const before = diff.before || {};
    const after = diff.after || {};
    const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return fields.map((field) => ({ field, before: lookup(before, field), after: lookup(after, field) }));
  }

  function diffValue(value) {
    if (value === undefined) return NONE;
    return typeof value === 'string' ? value : JSON.stringify(value);
  }

  function diffMessageRow(...content) {
    const td = el('td', '', ...content);
    td.colSpan = 3;
    return el('tr', '', td);
  }

  function renderDiff(diff) {
    if (diff === undefined || diff === null) {
      els.detailDiff.replaceChildren(diffMessageRow('No diff recorded.'));
      return;
    }
    const rows = flattenDiff(diff);
    if (rows === null) {
      els.detailDiff.replaceChildren(diffMessageRow(el('pre', '', JSON.stringify(diff, null, 2))));
    } else if (!rows.length) {
      els.detailDiff.replaceChildren(diffMessageRow('The diff is empty.'));
    } else {
      els.detailDiff.replaceChildren(...rows.map((r) => {
        const field = el('th', 'code', r.field);
        field.scope = 'row';
        return el('tr', '', field, el('td', '', diffValue(r.before)), el('td', '', diffValue(r.after)));
      }));
    }
  }

  function openDetail(row) {
    const record = state.records.get(row.dataset.seq);
    if (!record) return;
    const event = isPlainObject(record.event) ? record.event : {};
    els.detailTitle.textContent = `Event seq ${text(record.seq)} · ${text(event.action)}`;
    const fields = document.createDocumentFragment();
    for (const [source, name] of DETAIL_FIELDS) {
      const value = lookup(source === 'row' ? record : event, name);
      const dd = el('dd', HASH_FIELDS.has(name) && value !== undefined ? 'code' : '', text(value));
      dd.dataset.field = name;
      fields.append(el('dt', '', name), dd);
    }
    els.detailFields.replaceChildren(fields);
    renderDiff(event.diff);
    els.detailMetadata.textContent = event.metadata === undefined ? 'None' : JSON.stringify(event.metadata, null, 2);
    const redactions = Array.isArray(record.redactions) ? record.redactions : [];
    els.detailRedactions.replaceChildren(...(redactions.length
      ? redactions.map((r) => el('li', '', `${text(r && r.path)} — ${text(r && r.how)}`))
      : [el('li', '', 'None')]));
    state.detailOpener = row;
    els.detail.showModal();
  }

  function onRowActivate(event) {
    const row = event.target.closest('tr.row');
    if (!row) return;
    if (event.type === 'keydown') {
      if (event.key !== 'Enter' && event.key !== ' ') return;
      event.preventDefault(); // Space would scroll the page
    } else if (String(window.getSelection())) {
      return; // the reader is selecting text to copy, not opening the row
    }
    openDetail(row);
  }

  // ------------------------------------------------------------------
  // Paging
  // ------------------------------------------------------------------

  function resetPaging() {
    paging.cursors = [null];
    paging.counts = [];
    paging.index = 0;
    paging.next = null;
  }

  // Loads page `index` of the applied filters with `cursor`; true once
  // rendered. Each rendered page is marked on <body> (pageRenderedAt, on the
  // performance.now() clock, and pageRows) so tests can time and await it.
  async function loadPage(index, cursor, firstOfChange) {
    const signal = startRequest('page');
    const f = state.filters;
    const q = filterParams(f, state.window);
    q.set('order', f.order);
    q.set('limit', String(f.limit));
    if (cursor) q.set('cursor', cursor);
    setTableBusy(true);
    try {
      const page = await getJson(`/v1/events?${q}`, signal);
      if (signal.aborted) return false;
      const records = Array.isArray(page.records) ? page.records : [];
      paging.index = index;
      paging.cursors.length = index + 1;
      paging.cursors[index] = cursor;
      paging.counts.length = index + 1;
      paging.counts[index] = records.length;
      paging.next = page.next_cursor || null;
      let empty = 'No events in this window match the filters.';
      if (paging.next) empty = 'No matching events in this part of the window; the next page continues the search.';
      else if (index > 0) empty = 'No more events match the filters.';
      els.caption.textContent = f.order === 'asc' ? 'Events, oldest first' : 'Events, newest first';
      renderRows(records, empty);
      setTableBusy(false);
      renderPager();
      document.body.dataset.pageRenderedAt = String(performance.now());
      document.body.dataset.pageRows = String(records.length);
      return true;
    } catch (err) {
      if (signal.aborted) return false;
      setTableBusy(false);
      if (firstOfChange) renderRows([], 'The events could not be loaded.');
      renderPager();
      reportError(err, 'Could not load events');
      return false;
    }
  }

  function renderPager() {
    const asc = state.filters && state.filters.order === 'asc';
    els.pageNewer.textContent = asc ? '← Earlier' : '← Newer';
    els.pageOlder.textContent = asc ? 'Later →' : 'Older →';
    els.pageNewer.disabled = paging.index === 0;
    els.pageOlder.disabled = !paging.next;
    const shown = paging.counts[paging.index] || 0;
    const before = paging.counts.slice(0, paging.index).reduce((sum, n) => sum + n, 0);
    const page = `Page ${fmt(paging.index + 1)}`;
    els.pageInfo.textContent = shown ? `${page} · rows ${fmt(before + 1)}–${fmt(before + shown)}` : `${page} · no rows`;
  }

  async function goToPage(index, cursor, button) {
    if (!(await loadPage(index, cursor, false))) return;
    // A pager button that just became disabled would leave keyboard focus nowhere.
    if (button.disabled) els.table.focus();
  }

  // ------------------------------------------------------------------
  // Chart
  // ------------------------------------------------------------------

  const SEGMENTS = ['success', 'failure', 'denied', 'none'];

  function count(value) {
    const n = Number(value);
    return Number.isFinite(n) && n > 0 ? n : 0;
  }

  function bucketLabel(start, bucket) {
    const formatted = formatTime(start);
    return bucket === 'day' ? formatted.slice(0, 10) : formatted.slice(0, 16);
  }

  function renderChartMessage(message) {
    els.chart.replaceChildren();
    els.chartAxis.replaceChildren();
    els.chartSummary.textContent = message;
  }

  async function loadHistogram() {
    const signal = startRequest('histogram');
    const win = state.window;
    if (win.from === null || win.to === null) {
      els.chartTitle.textContent = 'Events over time';
      renderChartMessage('Set both From and To to see events over time.');
      return;
    }
    const bucket = win.to - win.from <= HOURLY_MAX_MS ? 'hour' : 'day';
    const q = filterParams(state.filters, win);
    q.set('bucket', bucket);
    els.chartTitle.textContent = `Events per ${bucket}`;
    els.chart.setAttribute('aria-busy', 'true');
    els.chartSummary.textContent = 'Counting events…';
    try {
      const histogram = await getJson(`/v1/histogram?${q}`, signal);
      if (signal.aborted) return;
      state.histogram = histogram;
      renderChart(histogram, bucket);
    } catch (err) {
      if (signal.aborted) return;
      renderChartMessage('The chart could not be loaded.');
      reportError(err, 'Could not load the chart');
    } finally {
      if (!signal.aborted) els.chart.removeAttribute('aria-busy');
    }
  }

  function renderChart(histogram, bucket) {
    const buckets = Array.isArray(histogram.buckets) ? histogram.buckets : [];
    if (!buckets.length) {
      renderChartMessage('No buckets in this window.');
      return;
    }
    const largest = buckets.reduce((max, b) => Math.max(max, count(b.total)), 0) || 1;
    const totals = { success: 0, failure: 0, denied: 0, none: 0 };
    const fragment = document.createDocumentFragment();
    for (const b of buckets) {
      const total = count(b.total);
      const when = bucketLabel(b.start, bucket);
      const label = `${when} UTC: ${plural(total, 'event', 'events')}, ${fmt(count(b.success))} success, `
        + `${fmt(count(b.failure))} failure, ${fmt(count(b.denied))} denied, ${fmt(count(b.none))} no outcome`;
      const bar = el('button', 'bar');
      bar.type = 'button';
      bar.tabIndex = -1;
      bar.dataset.start = text(b.start);
      bar.dataset.end = text(b.end);
      bar.setAttribute('aria-label', label);
      bar.title = label;
      for (const kind of SEGMENTS) {
        const n = count(b[kind]);
        totals[kind] += n;
        if (!n) continue;
        const segment = el('span', `seg-${kind}`);
        segment.style.height = `${(n / largest) * 100}%`;
        bar.append(segment);
      }
      fragment.append(bar);
    }
    // One tab stop for the whole chart; arrow keys move along it (see onChartKey).
    fragment.firstChild.tabIndex = 0;
    const hadFocus = els.chart.contains(document.activeElement);
    els.chart.replaceChildren(fragment);
    if (hadFocus) els.chart.firstChild.focus();

    const first = bucketLabel(buckets[0].start, bucket);
    const last = bucketLabel(buckets[buckets.length - 1].start, bucket);
    els.chartAxis.replaceChildren(el('span', '', `${first} UTC`), ...(buckets.length > 1 ? [el('span', '', `${last} UTC`)] : []));

    const rows = count(histogram.rows);
    let summary = `${plural(rows, 'event', 'events')} in the window: ${fmt(totals.success)} success, `
      + `${fmt(totals.failure)} failure, ${fmt(totals.denied)} denied, ${fmt(totals.none)} no outcome.`;
    if (histogram.complete === false) summary += ` The server counted the first ${fmt(rows)} rows only.`;
    els.chartSummary.textContent = summary;
  }

  function onChartClick(event) {
    const bar = event.target.closest('button.bar');
    if (!bar) return;
    const from = parseRfc3339(bar.dataset.start);
    const to = parseRfc3339(bar.dataset.end);
    if (from === null || to === null) return;
    applyFilters({ ...state.filters, preset: 'custom', from, to }, 'push');
  }

  function onChartKey(event) {
    const bars = [...els.chart.querySelectorAll('button.bar')];
    const current = bars.indexOf(document.activeElement);
    if (current < 0) return;
    const targets = { ArrowLeft: current - 1, ArrowRight: current + 1, Home: 0, End: bars.length - 1 };
    if (!Object.hasOwn(targets, event.key)) return;
    event.preventDefault();
    const next = bars[Math.min(Math.max(targets[event.key], 0), bars.length - 1)];
    bars[current].tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
  }

  // ------------------------------------------------------------------
  // Export
  // ------------------------------------------------------------------

  // Counts the line ends of a streamed CSV or NDJSON body. In CSV a quoted
  // cell may hold line breaks: quotes toggle (an escaped "" toggles twice).
  // Both bytes are ASCII, so UTF-8 text never fakes them.
  function lineCounter(csv) {
    let lines = 0;
    let quoted = false;
    let last = 10;
    return {
      feed(bytes) {
        for (let i = 0; i < bytes.length; i += 1) {
          const b = bytes[i];
          if (csv && b === 34) quoted = !quoted;
          else if (b === 10 && !quoted) lines += 1;
        }
        if (bytes.length) last = bytes[bytes.length - 1];
      },
      // Records seen; a last record without a line end counts too.
      records() {
        return lines + (last === 10 ? 0 : 1);
      },
    };
  }

  function rowsOf(format, counter) {
    if (format === 'bundle') return null;
    const records = counter.records();
    return format === 'csv' ? Math.max(0, records - 1) : records; // CSV starts with a header line
  }

  function describeExport(rows, bytes) {
    return rows === null ? formatBytes(bytes) : `${plural(rows, 'row', 'rows')} · ${formatBytes(bytes)}`;
  }

  // The server names the file; anything but a plain file name falls back to ours.
  function attachmentName(header, fallback) {
    const m = /filename="([^"]*)"/i.exec(header || '') || /filename=([^;\s]+)/i.exec(header || '');
    const name = m ? m[1] : '';
    return /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/.test(name) ? name : fallback;
  }

  function saveBlob(blob, name) {
    const url = URL.createObjectURL(blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = name;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), REVOKE_AFTER_MS);
  }

  function hasWindow() {
    return state.window.from !== null && state.window.to !== null;
  }

  function updateExportButtons() {
    els.exportCsv.disabled = state.exporting;
    els.exportNdjson.disabled = state.exporting;
    els.exportBundle.disabled = state.exporting || !hasWindow();
    els.exportCancel.hidden = !state.exporting;
  }

  function setExportStatus(message, isError = false) {
    els.exportStatus.textContent = message;
    els.exportStatus.classList.toggle('is-error', isError);
  }

  // The export's query: exactly the applied filters and order (no cursor, no
  // limit); a bundle takes the time window only.
  function exportQuery(format) {
    if (format === 'bundle') {
      return new URLSearchParams([['format', format], ['from', toRfc3339(state.window.from)], ['to', toRfc3339(state.window.to)]]);
    }
    const q = new URLSearchParams([['format', format], ...filterParams(state.filters, state.window)]);
    q.set('order', state.filters.order);
    return q;
  }

  async function runExport(format, button) {
    if (state.exporting || (format === 'bundle' && !hasWindow())) return;
    const query = exportQuery(format);
    // The histogram counted the same rows: when it counted them all, that is the progress maximum.
    const h = state.histogram;
    const expected = format !== 'bundle' && h && h.complete === true && count(h.rows) > 0 ? count(h.rows) : null;
    const signal = startRequest('export');
    state.exporting = true;
    updateExportButtons();
    const progress = els.exportProgress;
    progress.removeAttribute('value'); // indeterminate until rows arrive
    if (expected) progress.max = expected;
    progress.hidden = false;
    setExportStatus('Exporting…');
    const counter = lineCounter(format === 'csv');
    let bytes = 0;
    try {
      const res = await request(`/v1/export?${query}`, signal);
      if (!res.ok) throw await errorFrom(res);
      const name = attachmentName(res.headers.get('Content-Disposition'), `annal-export.${format}`);
      const type = res.headers.get('Content-Type') || 'application/octet-stream';
      const reader = res.body.getReader();
      const chunks = [];
      let drawnAt = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        bytes += value.byteLength;
        counter.feed(value);
        const now = performance.now();
        if (now - drawnAt >= PROGRESS_INTERVAL_MS) {
          drawnAt = now;
          const rows = rowsOf(format, counter);
          if (expected) progress.value = Math.min(rows, expected);
          setExportStatus(`Exporting… ${describeExport(rows, bytes)}`);
        }
      }
      const rows = rowsOf(format, counter);
      saveBlob(new Blob(chunks, { type }), name);
      setExportStatus(`Saved ${name}: ${describeExport(rows, bytes).replace(' · ', ', ')}`);
      // The export was itself recorded: the chain head moved.
      loadOverview();
    } catch (err) {
      if (signal.aborted) {
        if (apiKey) setExportStatus('Export cancelled; nothing was saved.');
      } else if (err instanceof ApiError && err.status === 401) {
        signOut(REFUSED);
      } else if (err instanceof TypeError && bytes > 0) {
        setExportStatus('The export stopped before its end; nothing was saved. Try again.', true);
      } else {
        setExportStatus(`Export failed: ${err instanceof ApiError ? err.detail : describeError(err)}`, true);
      }
    } finally {
      inflight.delete('export');
      state.exporting = false;
      progress.hidden = true;
      if (apiKey) {
        updateExportButtons();
        restoreFocus(button);
      }
    }
  }

  // A button disabled while it worked lost the focus: give it back.
  function restoreFocus(button) {
    if (!document.activeElement || document.activeElement === document.body) button.focus();
  }

  // ------------------------------------------------------------------
  // Trust: overview, retention, checkpoint, verification
  // ------------------------------------------------------------------

  function notVerifiedText(checkpoint) {
    const covers = checkpoint ? ` Last signed checkpoint covers seq ${text(checkpoint.seq)}.` : '';
    return `Not verified in this session.${covers}`;
  }

  async function loadOverview() {
    const signal = startRequest('overview');
    try {
      const overview = await getJson('/v1/overview', signal);
      if (!signal.aborted) renderOverview(overview);
    } catch (err) {
      if (!signal.aborted) reportError(err, 'Could not load the overview');
    }
  }

  function renderOverview(overview) {
    const key = isPlainObject(overview.key) ? overview.key : {};
    const scopes = Array.isArray(key.scopes) ? key.scopes.map(text).join(', ') : NONE;
    els.tenant.textContent = text(overview.tenant);
    els.whoami.textContent = `Key ${text(key.id)}${key.label ? ` (${text(key.label)})` : ''} · scopes: ${scopes}`;

    const head = isPlainObject(overview.head) ? overview.head : {};
    els.head.textContent = head.recorded_at
      ? `Chain head: seq ${text(head.seq)}, recorded ${formatUtc(head.recorded_at)}`
      : `Chain head: seq ${text(head.seq)} (the log is empty)`;

    const retention = isPlainObject(overview.retention) ? overview.retention : {};
    els.retention.textContent = retention.days === undefined || retention.days === null
      ? `Retention: ${text(retention.tier)} tier, no time limit`
      : `Retention: ${text(retention.tier)} tier, ${plural(Number(retention.days), 'day', 'days')}`;
    const hold = retention.legal_hold;
    els.legalHold.textContent = isPlainObject(hold)
      ? `Legal hold since ${formatUtc(hold.since)}: ${text(hold.reason)}`
      : 'No legal hold';
    const anchor = retention.anchor;
    els.deletedBefore.textContent = isPlainObject(anchor)
      ? `Rows recorded before ${formatUtc(anchor.cutoff)} were deleted by retention (${plural(count(anchor.rows_deleted), 'row', 'rows')})`
      : 'No rows deleted by retention yet';

    const checkpoint = isPlainObject(overview.checkpoint) ? overview.checkpoint : null;
    els.checkpoint.textContent = checkpoint
      ? `Latest signed checkpoint: seq ${text(checkpoint.seq)}, ${formatUtc(nsToMs(checkpoint.recorded_at))}, key ${text(checkpoint.key_id)}`
      : 'No signed checkpoint yet';
    if (!state.verified) els.verifyStatus.textContent = notVerifiedText(checkpoint);
  }

  function setVerifyStatus(message, mark) {
    els.verifyStatus.textContent = message;
    els.verifyStatus.classList.toggle('is-ok', mark === 'ok');
    els.verifyStatus.classList.toggle('is-broken', mark === 'broken');
    els.verifyStatus.classList.toggle('is-error', mark === 'error');
  }

  async function verifyNow() {
    const signal = startRequest('verify');
    els.verifyNow.disabled = true;
    setVerifyStatus('Verifying…');
    try {
      const v = await getJson('/v1/verify', signal);
      if (signal.aborted) return;
      state.verified = true;
      const checked = ` Checked ${formatUtc(Date.now())}.`;
      if (v.intact === true) {
        const n = count(v.count);
        const message = n
          ? `Intact: all ${plural(n, 'row', 'rows')} from seq ${text(v.first_seq)} to ${text(v.last_seq)} verify; head ${text(v.head).slice(0, 16)}…`
          : 'Intact: there are no rows to verify yet.';
        setVerifyStatus(message + checked, 'ok');
      } else {
        const message = `BROKEN at seq ${text(v.first_bad_seq)}: ${text(v.reason)}`;
        setVerifyStatus(message + checked, 'broken');
        showStatus(`Chain verification failed. ${message}`, 'error');
      }
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof ApiError && err.status === 401) {
        signOut(REFUSED);
        return;
      }
      setVerifyStatus(err instanceof ApiError && err.status === 429
        ? 'The server is busy verifying; try again shortly.'
        : `Verification could not run: ${describeError(err)}`, 'error');
    } finally {
      if (!signal.aborted) {
        inflight.delete('verify');
        els.verifyNow.disabled = false;
        restoreFocus(els.verifyNow);
      }
    }
  }

  async function loadActions() {
    const signal = startRequest('actions');
    try {
      const answer = await getJson('/v1/actions?limit=1000', signal);
      if (signal.aborted) return;
      const names = Array.isArray(answer.actions) ? answer.actions : [];
      els.actionNames.replaceChildren(...names.map((name) => {
        const option = document.createElement('option');
        option.value = text(name);
        return option;
      }));
    } catch (err) {
      if (!signal.aborted) reportError(err, 'Could not load the action names');
    }
  }

  // ------------------------------------------------------------------
  // Sign-in and session
  // ------------------------------------------------------------------

  // sessionStorage, so a reload keeps the session and closing the tab forgets it.
  // It can be unavailable (storage disabled): the session then lasts until reload.
  function readStoredKey() {
    try {
      return sessionStorage.getItem(KEY_STORAGE);
    } catch {
      return null;
    }
  }

  function storeKey(key) {
    try {
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      else sessionStorage.removeItem(KEY_STORAGE);
    } catch {
      // Storage disabled: the key stays in memory only.
    }
  }

  function showConsole() {
    els.signin.hidden = true;
    els.app.hidden = false;
  }

  async function signIn(event) {
    event.preventDefault();
    const key = els.key.value.trim().replace(/^Bearer\s+/i, '');
    els.signinError.textContent = '';
    if (!KEY_SHAPE.test(key)) {
      els.signinError.textContent = 'That is not an annal API key: keys look like ak_<16 hex digits>_<secret>.';
      els.key.focus();
      return;
    }
    const signal = startRequest('signin');
    els.signinSubmit.disabled = true;
    els.signinSubmit.textContent = 'Signing in…';
    try {
      // The overview both checks the key and fills the console's header.
      const overview = await getJson('/v1/overview', signal, key);
      if (signal.aborted) return;
      apiKey = key;
      storeKey(key);
      els.key.value = '';
      clearStatus();
      showConsole();
      renderOverview(overview);
      applyFilters(filtersFromQuery(location.search), 'replace', { skipOverview: true });
      els.appTitle.focus();
    } catch (err) {
      if (signal.aborted) return;
      els.signinError.textContent = err instanceof ApiError && err.status === 401
        ? 'The key was refused (revoked or wrong).'
        : `Could not sign in: ${describeError(err)}`;
      els.key.focus();
    } finally {
      inflight.delete('signin');
      els.signinSubmit.disabled = false;
      els.signinSubmit.textContent = 'Sign in';
    }
  }

  // Puts every view of the console back to its signed-out, empty state.
  function resetConsole() {
    state.filters = null;
    state.window = { from: null, to: null };
    state.records = new Map();
    state.histogram = null;
    state.verified = false;
    state.exporting = false;
    resetPaging();
    els.tenant.textContent = '';
    els.whoami.textContent = '';
    els.windowInfo.textContent = '';
    els.tbody.replaceChildren();
    els.pageInfo.textContent = '';
    els.pageNewer.disabled = true;
    els.pageOlder.disabled = true;
    els.rowsWrap.removeAttribute('aria-busy');
    els.chart.removeAttribute('aria-busy');
    renderChartMessage('');
    els.actionNames.replaceChildren();
    els.exportProgress.hidden = true;
    setExportStatus('');
    updateExportButtons();
    setVerifyStatus(notVerifiedText(null));
    els.verifyNow.disabled = false;
    for (const fact of [els.head, els.checkpoint, els.retention, els.legalHold, els.deletedBefore]) fact.textContent = '';
  }

  function signOut(message) {
    abortAll();
    apiKey = null;
    storeKey(null);
    if (els.detail.open) els.detail.close();
    resetConsole();
    els.app.hidden = true;
    els.signin.hidden = false;
    const refused = message === REFUSED;
    els.signinError.textContent = refused ? REFUSED : '';
    showStatus(message, refused ? 'error' : 'info');
    els.key.focus();
  }

  // ------------------------------------------------------------------
  // Wiring
  // ------------------------------------------------------------------

  function onFiltersSubmit(event) {
    event.preventDefault();
    const f = readForm();
    if (f.preset === 'custom' && f.from !== null && f.to !== null && f.from >= f.to) {
      showStatus('The window is empty: From must be earlier than To.', 'error');
      els.from.focus();
      return;
    }
    applyFilters(f, 'push');
  }

  function onPresetChange() {
    if (els.preset.value === 'custom') return;
    const win = resolveWindow({ preset: els.preset.value }, Date.now());
    els.from.value = toInputValue(win.from);
    els.to.value = toInputValue(win.to);
  }

  function onClearFilters() {
    const { order, limit } = state.filters || defaultFilters();
    applyFilters({ ...defaultFilters(), order, limit }, 'push');
  }

  function onPopState() {
    if (!apiKey) return; // the URL's filters apply once signed in
    if (els.detail.open) els.detail.close();
    applyFilters(filtersFromQuery(location.search), 'none');
  }

  function onDetailClose() {
    const opener = state.detailOpener;
    state.detailOpener = null;
    if (opener && opener.isConnected) opener.focus();
  }

  function start() {
    els.signin.addEventListener('submit', signIn);
    els.signout.addEventListener('click', () => signOut('Signed out. The key was forgotten by this tab.'));
    els.filters.addEventListener('submit', onFiltersSubmit);
    els.preset.addEventListener('change', onPresetChange);
    const toCustom = () => { els.preset.value = 'custom'; };
    els.from.addEventListener('input', toCustom);
    els.to.addEventListener('input', toCustom);
    els.clear.addEventListener('click', onClearFilters);
    els.tbody.addEventListener('click', onRowActivate);
    els.tbody.addEventListener('keydown', onRowActivate);
    els.pageOlder.addEventListener('click', () => {
      if (paging.next) goToPage(paging.index + 1, paging.next, els.pageOlder);
    });
    els.pageNewer.addEventListener('click', () => {
      if (paging.index > 0) goToPage(paging.index - 1, paging.cursors[paging.index - 1], els.pageNewer);
    });
    els.chart.addEventListener('click', onChartClick);
    els.chart.addEventListener('keydown', onChartKey);
    els.exportCsv.addEventListener('click', () => runExport('csv', els.exportCsv));
    els.exportNdjson.addEventListener('click', () => runExport('ndjson', els.exportNdjson));
    els.exportBundle.addEventListener('click', () => runExport('bundle', els.exportBundle));
    els.exportCancel.addEventListener('click', () => {
      const controller = inflight.get('export');
      if (controller) controller.abort();
    });
    els.verifyNow.addEventListener('click', verifyNow);
    els.detailClose.addEventListener('click', () => els.detail.close());
    // A click on the backdrop lands on the dialog itself (its content fills the box).
    els.detail.addEventListener('click', (event) => {
      if (event.target === els.detail) els.detail.close();
    });
    els.detail.addEventListener('close', onDetailClose);
    window.addEventListener('popstate', onPopState);

    resetConsole();
    const stored = readStoredKey();
    if (stored) {
      apiKey = stored;
      showConsole();
      applyFilters(filtersFromQuery(location.search), 'replace');
    }
  }

  start();
})();
