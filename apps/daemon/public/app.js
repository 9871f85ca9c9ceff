// mainlined web UI: plain JS over the daemon's own Transmission RPC. No build step, no framework.
'use strict';

const RPC = '/transmission/rpc';
const POLL_MS = 1500;
const STATUS = ['Stopped', 'Queued to verify', 'Verifying', 'Queued', 'Downloading', 'Queued to seed', 'Seeding'];
const LIST_FIELDS = [
  'id', 'name', 'status', 'percentDone', 'sizeWhenDone', 'leftUntilDone', 'rateDownload', 'rateUpload', 'eta',
  'peersConnected', 'peersSendingToUs', 'peersGettingFromUs', 'uploadRatio', 'error', 'errorString', 'recheckProgress', 'hashString',
  'metadataPercentComplete', 'addedDate',
];
const DETAIL_FIELDS = [
  'id', 'name', 'hashString', 'downloadDir', 'totalSize', 'pieceCount', 'pieceSize', 'files', 'fileStats', 'peers', 'trackerStats', 'addedDate',
  'comment', 'metadataPercentComplete', 'downloadLimit', 'downloadLimited', 'uploadLimit', 'uploadLimited',
];
const SESSION_FIELDS = ['alt-speed-enabled', 'alt-speed-up', 'alt-speed-down', 'alt-speed-time-enabled', 'alt-speed-time-begin', 'alt-speed-time-end', 'alt-speed-time-day', 'speed-limit-down', 'speed-limit-down-enabled', 'speed-limit-up', 'speed-limit-up-enabled', 'download-dir', 'lpd-enabled', 'peer-port'];
// A magnet link whose metadata (name, files, sizes) is not here yet.
const noMetadata = (t) => t.metadataPercentComplete < 1;
const $ = (id) => document.getElementById(id);

let sessionId = '';
let selected = null;
let torrents = [];
let session = {};
const sort = { key: 'name', descending: false };
/** Which torrent the detail forms were filled for (they are not refilled under the user's hands). */
let formsFor = null;
/** The files table as last drawn, to redraw only on change (an open priority menu stays open). */
let filesDrawn = '';

/** The first request learns the session id; the others of the first burst wait for it (one 409, not three). */
let handshake = null;

async function rpc(method, args) {
  if (!sessionId) {
    handshake ??= fetch(RPC, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"method":"session-get","arguments":{"fields":["version"]}}' })
      .then((res) => { sessionId = res.headers.get('X-Transmission-Session-Id') || ''; })
      .catch(() => undefined)
      .finally(() => { handshake = null; });
    await handshake;
  }
  const body = JSON.stringify({ method, arguments: args || {} });
  for (let attempt = 0; attempt < 2; attempt++) {
    const res = await fetch(RPC, { method: 'POST', headers: { 'X-Transmission-Session-Id': sessionId, 'Content-Type': 'application/json' }, body });
    if (res.status === 409) {
      sessionId = res.headers.get('X-Transmission-Session-Id') || '';
      continue;
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const json = await res.json();
    if (json.result !== 'success') throw new Error(json.result);
    return json.arguments;
  }
  throw new Error('session id handshake failed');
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

function bytes(n) {
  if (!(n > 0)) return '0 B';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i === 0 ? 0 : n < 10 ? 2 : 1)} ${units[i]}`;
}
const speed = (n) => (n > 0 ? `${bytes(n)}/s` : '–');
function eta(s) {
  if (s === -1) return '–';
  if (s < 0) return '∞';
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}
const ratio = (r) => (r === -1 ? '–' : r === -2 ? '∞' : r.toFixed(2));
const hhmm = (minutes) => `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
const minutesOf = (value) => {
  const m = /^(\d\d):(\d\d)/.exec(value);
  return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
};

function statusText(t) {
  if (t.error === 3) return `Error: ${t.errorString}`;
  if (noMetadata(t)) return t.status === 0 ? 'Stopped (no metadata yet)' : `Fetching metadata ${Math.floor(t.metadataPercentComplete * 100)}%`;
  if (t.status === 2) return `Verifying ${Math.floor(t.recheckProgress * 100)}%`;
  if (t.status === 6 && t.peersGettingFromUs === 0) return 'Seeding (idle)';
  if (t.status === 4 && t.peersSendingToUs === 0) return 'Downloading (idle)';
  return STATUS[t.status] || 'Unknown';
}

function bar(fraction, kind) {
  const pct = Math.max(0, Math.min(100, fraction * 100));
  const span = el('span');
  span.style.width = `${pct}%`;
  return el('div', { class: `bar ${kind}`, role: 'progressbar', 'aria-valuenow': pct.toFixed(1), 'aria-valuemin': '0', 'aria-valuemax': '100' },
    span, el('em', {}, `${pct.toFixed(1)}%`));
}

function showMessage(text, isError) {
  const m = $('message');
  m.textContent = text;
  m.className = isError ? 'error' : '';
}

async function act(method, ids, extra) {
  try {
    await rpc(method, Object.assign({ ids }, extra || {}));
    await refresh();
    return true;
  } catch (e) {
    showMessage(`${method} failed: ${e.message}`, true);
    return false;
  }
}

// ---- the list: filter and sort ----

const FILTERS = {
  all: () => true,
  active: (t) => t.rateDownload > 0 || t.rateUpload > 0 || t.status === 2,
  downloading: (t) => t.status === 4 || t.status === 3,
  seeding: (t) => t.status === 6 || t.status === 5,
  stopped: (t) => t.status === 0,
  checking: (t) => t.status === 1 || t.status === 2,
  error: (t) => t.error !== 0,
};

const SORT_KEYS = {
  name: (t) => t.name.toLowerCase(),
  progress: (t) => t.percentDone,
  status: (t) => t.status,
  size: (t) => t.sizeWhenDone,
  down: (t) => t.rateDownload,
  up: (t) => t.rateUpload,
  eta: (t) => (t.eta < 0 ? Infinity : t.eta),
  peers: (t) => t.peersConnected,
  ratio: (t) => t.uploadRatio,
};

function shown() {
  const status = FILTERS[$('filter-status').value] || FILTERS.all;
  const text = $('filter-text').value.trim().toLowerCase();
  const key = SORT_KEYS[sort.key];
  const list = torrents.filter((t) => status(t) && (text === '' || t.name.toLowerCase().includes(text)));
  list.sort((a, b) => {
    const x = key(a);
    const y = key(b);
    const c = x < y ? -1 : x > y ? 1 : a.id - b.id;
    return sort.descending ? -c : c;
  });
  return list;
}

function row(t) {
  const kind = t.error === 3 ? 'error' : t.status === 0 ? 'stopped' : t.status === 6 ? 'seeding' : 'downloading';
  const stopped = t.status === 0;
  const actions = el('td', { class: 'actions' },
    stopped
      ? el('button', { type: 'button', dataset: { action: 'start' }, title: 'Start' }, 'Start')
      : el('button', { type: 'button', dataset: { action: 'stop' }, title: 'Stop' }, 'Stop'),
    // A torrent stopped by an error (e.g. not enough free space): "Start now" goes ahead anyway.
    stopped && t.error === 3 ? el('button', { type: 'button', dataset: { action: 'start-now' }, title: 'Start now, whatever the error (e.g. without enough free space)' }, 'Start now') : null,
    noMetadata(t) ? null : el('button', { type: 'button', dataset: { action: 'verify' }, title: 'Verify local data' }, 'Verify'),
    el('button', { type: 'button', dataset: { action: 'remove' }, title: 'Remove, with or without its data' }, 'Remove'));
  const tr = el('tr', { dataset: { id: String(t.id), hash: t.hashString, status: String(t.status) } },
    el('td', { class: 'name' }, t.name),
    el('td', { class: 'progress' }, bar(t.percentDone, kind)),
    el('td', { class: t.error === 3 ? 'status status-error' : 'status' }, statusText(t)),
    el('td', { class: 'num' }, noMetadata(t) ? '?' : bytes(t.sizeWhenDone)),
    el('td', { class: 'num' }, speed(t.rateDownload)),
    el('td', { class: 'num' }, speed(t.rateUpload)),
    el('td', { class: 'num' }, t.leftUntilDone === 0 && !noMetadata(t) ? 'done' : eta(t.eta)),
    el('td', { class: 'num' }, String(t.peersConnected)),
    el('td', { class: 'num' }, ratio(t.uploadRatio)),
    actions);
  if (t.id === selected) tr.classList.add('selected');
  tr.addEventListener('click', (ev) => {
    const action = ev.target instanceof HTMLElement ? ev.target.dataset.action : undefined;
    if (action === 'start') return act('torrent-start', [t.id]);
    if (action === 'start-now') return act('torrent-start-now', [t.id]);
    if (action === 'stop') return act('torrent-stop', [t.id]);
    if (action === 'verify') return act('torrent-verify', [t.id]);
    if (action === 'remove') return askRemove(t);
    select(t.id);
    return undefined;
  });
  return tr;
}

function drawList() {
  const list = shown();
  $('torrent-rows').replaceChildren(...list.map(row));
  $('empty').hidden = torrents.length > 0;
  $('none-match').hidden = torrents.length === 0 || list.length > 0;
  $('filter-count').textContent = list.length === torrents.length ? `${torrents.length} torrent${torrents.length === 1 ? '' : 's'}` : `${list.length} of ${torrents.length} shown`;
  for (const th of document.querySelectorAll('th.sortable')) {
    if (th.dataset.sort === sort.key) th.setAttribute('aria-sort', sort.descending ? 'descending' : 'ascending');
    else th.removeAttribute('aria-sort');
  }
}

for (const th of document.querySelectorAll('th.sortable')) {
  th.querySelector('button').addEventListener('click', () => {
    if (sort.key === th.dataset.sort) sort.descending = !sort.descending;
    else Object.assign(sort, { key: th.dataset.sort, descending: false });
    drawList();
  });
}
$('filter-status').addEventListener('change', drawList);
$('filter-text').addEventListener('input', drawList);

// ---- removing ----

function askRemove(t) {
  const dialog = $('remove-dialog');
  $('remove-text').textContent = `Remove "${t.name}" from the list? Its files can stay on disk or be deleted with it.`;
  dialog.returnValue = '';
  dialog.onclose = async () => {
    if (dialog.returnValue !== 'keep' && dialog.returnValue !== 'delete') return;
    const deleting = dialog.returnValue === 'delete';
    if (selected === t.id) select(null);
    if (await act('torrent-remove', [t.id], { 'delete-local-data': deleting })) showMessage(`removed ${t.name}${deleting ? ' and deleted its data' : ''}`, false);
  };
  dialog.showModal();
}

// ---- details: files, limits, location ----

function select(id) {
  selected = id;
  formsFor = null;
  filesDrawn = '';
  void refresh();
}
$('details-close').addEventListener('click', () => select(null));

function fillForms(t) {
  $('limit-down-on').checked = t.downloadLimited;
  $('limit-down').value = String(t.downloadLimit);
  $('limit-up-on').checked = t.uploadLimited;
  $('limit-up').value = String(t.uploadLimit);
  $('location-path').value = t.downloadDir;
}

function drawFiles(t) {
  const key = JSON.stringify([t.id, t.files, t.fileStats]);
  if (key === filesDrawn) return;
  filesDrawn = key;
  const prio = { '-1': 'low', 0: 'normal', 1: 'high' };
  $('files-all').hidden = $('files-none').hidden = t.files.length < 2;
  if (t.files.length === 0) {
    $('details-files').querySelector('tbody').replaceChildren(el('tr', {}, el('td', { colspan: '6', class: 'muted' }, 'the file list comes with the metadata')));
    return;
  }
  $('details-files').querySelector('tbody').replaceChildren(...t.files.map((f, i) => {
    const stats = t.fileStats[i];
    const want = el('input', { type: 'checkbox', class: 'want', 'aria-label': `download ${f.name}`, checked: stats.wanted, dataset: { file: String(i) } });
    want.addEventListener('change', () => void setFiles(t.id, want.checked ? 'files-wanted' : 'files-unwanted', [i]));
    const select = el('select', { class: 'priority', 'aria-label': `priority of ${f.name}`, disabled: !stats.wanted, dataset: { file: String(i) } },
      ...['high', 'normal', 'low'].map((p) => el('option', { value: p, selected: stats.wanted && prio[stats.priority] === p }, p)));
    select.addEventListener('change', () => void setFiles(t.id, `priority-${select.value}`, [i]));
    return el('tr', { class: stats.wanted ? '' : 'unwanted' },
      el('td', { class: 'want' }, want),
      el('td', {}, String(i + 1)),
      el('td', { class: 'name' }, f.name),
      el('td', { class: 'progress' }, bar(f.length ? f.bytesCompleted / f.length : 1, !stats.wanted ? 'stopped' : f.bytesCompleted === f.length ? 'seeding' : 'downloading')),
      el('td', { class: 'num' }, bytes(f.length)),
      el('td', {}, stats.wanted ? select : el('span', { class: 'muted' }, 'skipped')));
  }));
}

async function setFiles(id, what, indices) {
  try {
    await rpc('torrent-set', { ids: [id], [what]: indices });
  } catch (e) {
    showMessage(`cannot change the files: ${e.message}`, true);
  }
  filesDrawn = '';
  await refresh();
}

$('files-all').addEventListener('click', () => selected !== null && void setFiles(selected, 'files-wanted', []));
$('files-none').addEventListener('click', () => selected !== null && void setFiles(selected, 'files-unwanted', []));

$('torrent-limits').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (selected === null) return;
  const args = {
    downloadLimited: $('limit-down-on').checked,
    uploadLimited: $('limit-up-on').checked,
    // 0 is a limit like any other (no traffic at all, as in Transmission).
    downloadLimit: Math.max(0, Math.round(Number($('limit-down').value) || 0)),
    uploadLimit: Math.max(0, Math.round(Number($('limit-up').value) || 0)),
  };
  if (await act('torrent-set', [selected], args)) {
    showMessage(`${$('details-title').textContent}: ↓ ${args.downloadLimited ? `${args.downloadLimit} kB/s` : 'unlimited'}, ↑ ${args.uploadLimited ? `${args.uploadLimit} kB/s` : 'unlimited'}`, false);
    formsFor = null;
  }
});

$('location').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  if (selected === null) return;
  const location = $('location-path').value.trim();
  const move = document.querySelector('input[name="location-mode"]:checked').value === 'move';
  showMessage(move ? `moving the data to ${location}…` : `looking for the data in ${location}…`, false);
  if (await act('torrent-set-location', [selected], { location, move })) {
    showMessage(move ? `moved to ${location}` : `now using the data in ${location} (verifying)`, false);
    formsFor = null;
  }
});

async function refreshDetails(current) {
  const section = $('details');
  if (selected === null) {
    section.hidden = true;
    return;
  }
  const { torrents: [t] } = await rpc('torrent-get', { ids: [selected], fields: DETAIL_FIELDS });
  if (!current()) return;
  if (!t) {
    selected = null;
    section.hidden = true;
    return;
  }
  section.hidden = false;
  $('details-title').textContent = t.name;
  $('details-summary').textContent =
    (noMetadata(t) ? 'fetching metadata (files and sizes come with it)' : `${bytes(t.totalSize)} in ${t.pieceCount} pieces of ${bytes(t.pieceSize)}`) + ` · info-hash ${t.hashString} · saved in ${t.downloadDir}` + (t.comment ? ` · ${t.comment}` : '');
  if (formsFor !== t.id) {
    fillForms(t);
    formsFor = t.id;
  }
  drawFiles(t);
  const peers = t.peers.length ? t.peers.map((p) =>
    el('tr', {}, el('td', {}, `${p.address}:${p.port}`), el('td', {}, p.clientName || '?'), el('td', {}, p.flagStr),
      el('td', { class: 'num' }, `${(p.progress * 100).toFixed(0)}%`), el('td', { class: 'num' }, speed(p.rateToClient)), el('td', { class: 'num' }, speed(p.rateToPeer))))
    : [el('tr', {}, el('td', { colspan: '6', class: 'muted' }, 'no peers connected'))];
  $('details-peers').querySelector('tbody').replaceChildren(...peers);
  const trackers = t.trackerStats.length ? t.trackerStats.map((s) =>
    el('tr', {}, el('td', {}, String(s.tier + 1)), el('td', { class: 'name' }, s.announce), el('td', {}, s.lastAnnounceResult || '–')))
    : [el('tr', {}, el('td', { colspan: '3', class: 'muted' }, 'no trackers (trackerless torrent)'))];
  $('details-trackers').querySelector('tbody').replaceChildren(...trackers);
}

// ---- the turtle and the session's limits ----

function drawTurtle() {
  const on = session['alt-speed-enabled'] === true;
  const button = $('turtle');
  button.setAttribute('aria-pressed', String(on));
  button.title = `Alternative speed limits (turtle): ${on ? 'on' : 'off'}, ↓ ${session['alt-speed-down']} kB/s ↑ ${session['alt-speed-up']} kB/s${session['alt-speed-time-enabled'] ? `, scheduled ${hhmm(session['alt-speed-time-begin'])}–${hhmm(session['alt-speed-time-end'])}` : ''}`;
  $('turtle-label').textContent = on ? `Turtle ↓${session['alt-speed-down']} ↑${session['alt-speed-up']} kB/s` : 'Turtle';
}

$('turtle').addEventListener('click', async () => {
  try {
    await rpc('session-set', { 'alt-speed-enabled': session['alt-speed-enabled'] !== true });
    await refresh();
  } catch (e) {
    showMessage(`cannot switch the turtle: ${e.message}`, true);
  }
});

function limitText(prefix) {
  return session[`${prefix}-enabled`] ? `${session[prefix]} kB/s` : null;
}

// ---- preferences ----

async function openPrefs() {
  const s = await rpc('session-get', { fields: SESSION_FIELDS });
  $('pref-download-dir').value = s['download-dir'];
  $('pref-down-on').checked = s['speed-limit-down-enabled'];
  $('pref-down').value = String(s['speed-limit-down']);
  $('pref-up-on').checked = s['speed-limit-up-enabled'];
  $('pref-up').value = String(s['speed-limit-up']);
  $('pref-alt-down').value = String(s['alt-speed-down']);
  $('pref-alt-up').value = String(s['alt-speed-up']);
  $('pref-sched-on').checked = s['alt-speed-time-enabled'];
  $('pref-sched-begin').value = hhmm(s['alt-speed-time-begin']);
  $('pref-sched-end').value = hhmm(s['alt-speed-time-end']);
  for (const box of $('pref-sched-days').querySelectorAll('input')) box.checked = (s['alt-speed-time-day'] & (1 << Number(box.dataset.day))) !== 0;
  $('pref-lpd').checked = s['lpd-enabled'];
  scheduleInputs();
  $('pref-port').textContent = `Peers connect to port ${s['peer-port']}.`;
  $('prefs-message').textContent = '';
  $('prefs').showModal();
}
/** The schedule's times and days are editable only while it is on. */
function scheduleInputs() {
  const off = !$('pref-sched-on').checked;
  for (const input of [$('pref-sched-begin'), $('pref-sched-end'), ...$('pref-sched-days').querySelectorAll('input')]) input.disabled = off;
}
$('pref-sched-on').addEventListener('change', scheduleInputs);
$('prefs-button').addEventListener('click', () => void openPrefs().catch((e) => showMessage(`cannot read the preferences: ${e.message}`, true)));

$('prefs-form').addEventListener('submit', async (ev) => {
  if (ev.submitter && ev.submitter.value !== 'save') return;
  ev.preventDefault();
  let days = 0;
  for (const box of $('pref-sched-days').querySelectorAll('input')) if (box.checked) days |= 1 << Number(box.dataset.day);
  const num = (id) => Math.round(Number($(id).value));
  const args = {
    'download-dir': $('pref-download-dir').value.trim(),
    'speed-limit-down-enabled': $('pref-down-on').checked,
    'speed-limit-down': num('pref-down'),
    'speed-limit-up-enabled': $('pref-up-on').checked,
    'speed-limit-up': num('pref-up'),
    'alt-speed-down': num('pref-alt-down'),
    'alt-speed-up': num('pref-alt-up'),
    'alt-speed-time-enabled': $('pref-sched-on').checked,
    'alt-speed-time-begin': minutesOf($('pref-sched-begin').value),
    'alt-speed-time-end': minutesOf($('pref-sched-end').value),
    'alt-speed-time-day': days,
    'lpd-enabled': $('pref-lpd').checked,
  };
  try {
    await rpc('session-set', args);
    $('prefs').close('saved');
    showMessage('preferences saved', false);
    await refresh();
  } catch (e) {
    $('prefs-message').textContent = `not saved: ${e.message}`;
    $('prefs-message').className = 'error';
  }
});

// ---- polling ----

/** Counts refreshes: an answer that arrives after a newer refresh began is stale and not drawn. */
let generation = 0;

async function refresh() {
  const mine = ++generation;
  try {
    const [list, stats, s] = await Promise.all([rpc('torrent-get', { fields: LIST_FIELDS }), rpc('session-stats'), rpc('session-get', { fields: SESSION_FIELDS })]);
    if (mine !== generation) return;
    torrents = list.torrents;
    session = s;
    drawList();
    drawTurtle();
    const limits = session['alt-speed-enabled']
      ? ` (turtle: ${session['alt-speed-down']} / ${session['alt-speed-up']} kB/s)`
      : [limitText('speed-limit-down'), limitText('speed-limit-up')].some(Boolean) ? ` (limits: ${limitText('speed-limit-down') || '∞'} / ${limitText('speed-limit-up') || '∞'})` : '';
    $('totals').textContent = `${stats.torrentCount} torrent${stats.torrentCount === 1 ? '' : 's'} · ${stats.activeTorrentCount} active · ↓ ${bytes(stats.downloadSpeed)}/s · ↑ ${bytes(stats.uploadSpeed)}/s${limits}`;
    await refreshDetails(() => mine === generation);
  } catch (e) {
    $('totals').textContent = `cannot reach the daemon: ${e.message}`;
  }
}

// ---- adding: upload, URL or magnet, drag and drop ----

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

async function add(args, what) {
  const paused = $('add-paused').checked;
  try {
    const res = await rpc('torrent-add', Object.assign({ paused }, args));
    const t = res['torrent-added'] || res['torrent-duplicate'];
    showMessage(res['torrent-duplicate'] ? `${t.name} is already here (#${t.id})` : `added ${t.name} (#${t.id})`, false);
    await refresh();
  } catch (e) {
    showMessage(`cannot add ${what}: ${e.message}`, true);
  }
}

async function addFiles(files) {
  for (const file of files) {
    if (!/\.torrent$/i.test(file.name)) {
      showMessage(`${file.name} is not a .torrent file`, true);
      continue;
    }
    await add({ metainfo: await readBase64(file) }, file.name);
  }
}

$('file-input').addEventListener('change', () => {
  const names = [...$('file-input').files].map((f) => f.name);
  $('file-names').textContent = names.length ? names.join(', ') : 'or drop them anywhere on the page';
});

$('add-file').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('file-input');
  await addFiles([...input.files]);
  input.value = '';
  $('file-names').textContent = 'or drop them anywhere on the page';
});

$('add-url').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = $('url-input');
  if (input.value) await add({ filename: input.value }, input.value);
  input.value = '';
});

const carriesFiles = (ev) => ev.dataTransfer && [...ev.dataTransfer.types].includes('Files');
let dragDepth = 0;
window.addEventListener('dragenter', (ev) => {
  if (!carriesFiles(ev)) return;
  ev.preventDefault();
  dragDepth++;
  $('drop-overlay').hidden = false;
});
window.addEventListener('dragover', (ev) => {
  if (!carriesFiles(ev)) return;
  ev.preventDefault();
  ev.dataTransfer.dropEffect = 'copy';
});
window.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) $('drop-overlay').hidden = true;
});
window.addEventListener('drop', (ev) => {
  if (!carriesFiles(ev)) return;
  ev.preventDefault();
  dragDepth = 0;
  $('drop-overlay').hidden = true;
  void addFiles([...ev.dataTransfer.files]);
});

function loop() {
  refresh().finally(() => {
    setTimeout(loop, POLL_MS);
  });
}
loop();
