// mainlined web UI: plain JS over the daemon's own Transmission RPC. No build step, no framework.
'use strict';

const RPC = '/transmission/rpc';
const POLL_MS = 1500;
const STATUS = ['Stopped', 'Queued to verify', 'Verifying', 'Queued', 'Downloading', 'Queued to seed', 'Seeding'];
const LIST_FIELDS = [
  'id', 'name', 'status', 'percentDone', 'sizeWhenDone', 'leftUntilDone', 'rateDownload', 'rateUpload', 'eta',
  'peersConnected', 'peersSendingToUs', 'peersGettingFromUs', 'uploadRatio', 'error', 'errorString', 'recheckProgress', 'hashString',
  'metadataPercentComplete',
];
const DETAIL_FIELDS = ['id', 'name', 'hashString', 'downloadDir', 'totalSize', 'pieceCount', 'pieceSize', 'files', 'fileStats', 'peers', 'trackerStats', 'addedDate', 'comment', 'metadataPercentComplete'];
// A magnet link whose metadata (name, files, sizes) is not here yet.
const noMetadata = (t) => t.metadataPercentComplete < 1;

let sessionId = '';
let selected = null;

async function rpc(method, args) {
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
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
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
  const m = document.getElementById('message');
  m.textContent = text;
  m.className = isError ? 'error' : '';
}

async function act(method, id, extra) {
  try {
    await rpc(method, Object.assign({ ids: [id] }, extra || {}));
    await refresh();
  } catch (e) {
    showMessage(`${method} failed: ${e.message}`, true);
  }
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
    el('button', { type: 'button', dataset: { action: 'remove' }, title: 'Remove (keeps the data)' }, 'Remove'));
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
    if (action === 'start') return act('torrent-start', t.id);
    if (action === 'start-now') return act('torrent-start-now', t.id);
    if (action === 'stop') return act('torrent-stop', t.id);
    if (action === 'verify') return act('torrent-verify', t.id);
    if (action === 'remove') {
      if (confirm(`Remove "${t.name}"? The downloaded data stays on disk.`)) {
        if (selected === t.id) selected = null;
        return act('torrent-remove', t.id, { 'delete-local-data': false });
      }
      return undefined;
    }
    selected = t.id;
    return refresh();
  });
  return tr;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

async function refreshDetails() {
  const section = document.getElementById('details');
  if (selected === null) {
    section.hidden = true;
    return;
  }
  const { torrents } = await rpc('torrent-get', { ids: [selected], fields: DETAIL_FIELDS });
  const t = torrents[0];
  if (!t) {
    selected = null;
    section.hidden = true;
    return;
  }
  section.hidden = false;
  document.getElementById('details-title').textContent = t.name;
  document.getElementById('details-summary').textContent =
    (noMetadata(t) ? 'fetching metadata (files and sizes come with it)' : `${bytes(t.totalSize)} in ${t.pieceCount} pieces of ${bytes(t.pieceSize)}`) + ` · info-hash ${t.hashString} · saved in ${t.downloadDir}` + (t.comment ? ` · ${t.comment}` : '');
  const prio = { '-1': 'low', 0: 'normal', 1: 'high' };
  fill(document.querySelector('#details-files tbody'), t.files.map((f, i) =>
    el('tr', {}, el('td', {}, String(i + 1)), el('td', { class: 'name' }, f.name),
      el('td', { class: 'progress' }, bar(f.length ? f.bytesCompleted / f.length : 1, 'downloading')),
      el('td', { class: 'num' }, bytes(f.length)),
      el('td', {}, t.fileStats[i].wanted ? prio[t.fileStats[i].priority] : 'skip'))));
  const peers = t.peers.length ? t.peers.map((p) =>
    el('tr', {}, el('td', {}, `${p.address}:${p.port}`), el('td', {}, p.clientName || '?'), el('td', {}, p.flagStr),
      el('td', { class: 'num' }, `${(p.progress * 100).toFixed(0)}%`), el('td', { class: 'num' }, speed(p.rateToClient)), el('td', { class: 'num' }, speed(p.rateToPeer))))
    : [el('tr', {}, el('td', { colspan: '6' }, 'no peers connected'))];
  fill(document.querySelector('#details-peers tbody'), peers);
  const trackers = t.trackerStats.length ? t.trackerStats.map((s) =>
    el('tr', {}, el('td', {}, String(s.tier + 1)), el('td', { class: 'name' }, s.announce), el('td', {}, s.lastAnnounceResult || '–')))
    : [el('tr', {}, el('td', { colspan: '3' }, 'no trackers (trackerless torrent)'))];
  fill(document.querySelector('#details-trackers tbody'), trackers);
}

async function refresh() {
  try {
    const [{ torrents }, stats] = await Promise.all([rpc('torrent-get', { fields: LIST_FIELDS }), rpc('session-stats')]);
    fill(document.getElementById('torrent-rows'), torrents.map(row));
    document.getElementById('empty').hidden = torrents.length > 0;
    document.getElementById('totals').textContent =
      `${stats.torrentCount} torrents · ${stats.activeTorrentCount} active · ↓ ${speed(stats.downloadSpeed)} · ↑ ${speed(stats.uploadSpeed)}`;
    await refreshDetails();
  } catch (e) {
    document.getElementById('totals').textContent = `cannot reach the daemon: ${e.message}`;
  }
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
    r.onerror = () => reject(r.error);
    r.readAsDataURL(file);
  });
}

async function add(args, what) {
  const paused = document.getElementById('add-paused').checked;
  try {
    const res = await rpc('torrent-add', Object.assign({ paused }, args));
    const t = res['torrent-added'] || res['torrent-duplicate'];
    showMessage(res['torrent-duplicate'] ? `${t.name} is already here (#${t.id})` : `added ${t.name} (#${t.id})`, false);
    await refresh();
  } catch (e) {
    showMessage(`cannot add ${what}: ${e.message}`, true);
  }
}

document.getElementById('add-file').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = document.getElementById('file-input');
  for (const file of input.files) await add({ metainfo: await readBase64(file) }, file.name);
  input.value = '';
});

document.getElementById('add-url').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = document.getElementById('url-input');
  if (input.value) await add({ filename: input.value }, input.value);
  input.value = '';
});

function loop() {
  refresh().finally(() => {
    setTimeout(loop, POLL_MS);
  });
}
loop();
