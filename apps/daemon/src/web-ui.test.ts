import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { makePayload, makeTempDir, makeTorrent, poll } from '@mainline/interop';
import { browserPages, http, rpcClient, spawnDaemon } from './test-helpers.js';

// Our own web UI, what people use every day, in Debian's chromium against the built daemon:
// sort and filter, drag and drop, file choice and priorities, per-torrent and global limits with
// the turtle, set location, preferences, remove with data. Screenshots go to SHOTS.
jest.setTimeout(120_000);

export const SHOTS = join(tmpdir(), 'mainline-web-ui');

const newPage = browserPages();

type Row = Record<string, unknown>;

async function rowNames(page: Page): Promise<string[]> {
  return page.locator('#torrent-rows tr td.name').allTextContents();
}

test('our web UI: sort, filter, drop a .torrent, files, limits, turtle, location, preferences, remove with data', async () => {
  mkdirSync(SHOTS, { recursive: true });
  const dir = makeTempDir('daemon-web-ui');
  const downloadDir = join(dir, 'downloads');
  mkdirSync(downloadDir);
  // A seeding torrent (its data is here), a downloading one (no data, no peers), and one to drop.
  const seeded = await makePayload(downloadDir, { name: 'debian-12.7-netinst.iso', size: 3_000_000 });
  const tSeeded = makeTorrent(seeded.path, { pieceLength: 64 * 1024, outPath: join(dir, 'debian.torrent') });
  const album = await makePayload(join(dir, 'src'), {
    name: 'Concert 2024',
    files: [{ path: 'CD1/01 Overture.flac', size: 900_000 }, { path: 'CD1/02 Allegro.flac', size: 700_000 }, { path: 'CD2/03 Finale.flac', size: 800_000 }, { path: 'cover.jpg', size: 60_000 }],
  });
  const tAlbum = makeTorrent(album.path, { pieceLength: 32 * 1024, outPath: join(dir, 'concert.torrent'), trackers: ['http://127.0.0.1:9/announce'] });
  const film = await makePayload(join(dir, 'src'), { name: 'big-buck-bunny-1080p.mkv', size: 2_000_000 });
  const tFilm = makeTorrent(film.path, { pieceLength: 32 * 1024, outPath: join(dir, 'bunny.torrent') });
  const d = await spawnDaemon({ stateDir: join(dir, 'state'), downloadDir });
  const rpc = rpcClient(d.rpcPort);
  const b64 = (p: string): string => readFileSync(p).toString('base64');
  for (const t of [tSeeded, tAlbum]) expect((await rpc('torrent-add', { metainfo: b64(t.path) })).result).toBe('success');
  const byHash = async (hash: string, fields: string[]): Promise<Row | undefined> => ((await rpc('torrent-get', { ids: [hash], fields })).arguments.torrents as Row[])[0];

  // Also at /transmission/web/, where Transmission's clients look (its assets are relative).
  expect((await http(d.rpcPort, { method: 'GET', path: '/transmission/web' })).headers.location).toBe('/transmission/web/');
  for (const path of ['/transmission/web/', '/transmission/web/app.js', '/transmission/web/style.css']) expect([path, (await http(d.rpcPort, { method: 'GET', path })).status]).toEqual([path, 200]);
  // The favicon is served, and the page names it.
  const icon = await http(d.rpcPort, { method: 'GET', path: '/favicon.svg' });
  expect([icon.status, icon.headers['content-type']]).toEqual([200, 'image/svg+xml']);

  const page = await newPage(900);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${d.rpcPort}/`);
  expect(await page.locator('link[rel="icon"]').getAttribute('href')).toBe('favicon.svg');
  await page.locator(`tr[data-hash="${tSeeded.infoHash}"] .bar[aria-valuenow="100.0"]`).waitFor({ timeout: 15_000 });
  await page.locator(`tr[data-hash="${tAlbum.infoHash}"][data-status="4"]`).waitFor({ timeout: 15_000 });

  // Drag and drop a .torrent onto the page: the overlay shows, the drop adds it.
  // (Written as page source: the DOM's types are not this package's.)
  const dataTransfer = await page.evaluateHandle(`(() => {
    const dt = new DataTransfer();
    const bin = Uint8Array.from(atob('${b64(tFilm.path)}'), (c) => c.charCodeAt(0));
    dt.items.add(new File([bin], 'bunny.torrent', { type: 'application/x-bittorrent' }));
    return dt;
  })()`);
  await page.dispatchEvent('body', 'dragenter', { dataTransfer });
  await page.locator('#drop-overlay:not([hidden])').waitFor();
  await page.screenshot({ path: join(SHOTS, '1-drop.png') });
  await page.dispatchEvent('body', 'drop', { dataTransfer });
  await page.locator(`tr[data-hash="${tFilm.infoHash}"]`).waitFor();
  expect(await page.locator('#drop-overlay').isHidden()).toBe(true);
  // (The list's own poll may show the row before the add's answer is in.)
  await page.locator('#message', { hasText: 'added big-buck-bunny-1080p.mkv' }).waitFor();

  // Sort: by name (the default), then name descending, then by size.
  expect(await rowNames(page)).toEqual(['big-buck-bunny-1080p.mkv', 'Concert 2024', 'debian-12.7-netinst.iso']);
  await page.click('th[data-sort="name"] button');
  expect(await rowNames(page)).toEqual(['debian-12.7-netinst.iso', 'Concert 2024', 'big-buck-bunny-1080p.mkv']);
  expect(await page.locator('th[data-sort="name"]').getAttribute('aria-sort')).toBe('descending');
  await page.click('th[data-sort="size"] button');
  expect(await rowNames(page)).toEqual(['big-buck-bunny-1080p.mkv', 'Concert 2024', 'debian-12.7-netinst.iso']);
  // Filter: by status, by name, both cleared.
  await page.selectOption('#filter-status', 'seeding');
  expect(await rowNames(page)).toEqual(['debian-12.7-netinst.iso']);
  expect(await page.locator('#filter-count').textContent()).toBe('1 of 3 shown');
  await page.selectOption('#filter-status', 'all');
  await page.fill('#filter-text', 'conc');
  expect(await rowNames(page)).toEqual(['Concert 2024']);
  await page.fill('#filter-text', 'nothing like it');
  await page.locator('#none-match:not([hidden])').waitFor();
  await page.fill('#filter-text', '');
  await page.click('th[data-sort="name"] button');

  // The album's details: files wanted and priorities, from the UI to the daemon and back.
  const albumRow = page.locator(`tr[data-hash="${tAlbum.infoHash}"]`);
  await albumRow.locator('td.name').click();
  await page.locator('#details-files tbody tr').nth(3).waitFor();
  await page.locator('#details-files input.want[data-file="3"]').uncheck();
  await poll(async () => (((await byHash(tAlbum.infoHash, ['wanted']))!.wanted as number[])[3] === 0 ? true : undefined), 10_000, () => 'cover.jpg to be unwanted');
  await page.locator('#details-files select.priority[data-file="0"]').selectOption('high');
  await page.locator('#details-files select.priority[data-file="2"]').selectOption('low');
  await poll(async () => (((await byHash(tAlbum.infoHash, ['priorities']))!.priorities as number[]).join() === '1,0,-1,0' ? true : undefined), 10_000, () => 'the priorities to be set');
  await page.locator('#details-files tr.unwanted', { hasText: 'cover.jpg' }).waitFor();
  await page.locator('#details-files select.priority[data-file="0"] option[value="high"]:checked').waitFor({ state: 'attached' });

  // Its own limits.
  await page.check('#limit-down-on');
  await page.fill('#limit-down', '250');
  await page.check('#limit-up-on');
  await page.fill('#limit-up', '40');
  await page.click('#torrent-limits button[type="submit"]');
  await poll(async () => ((await byHash(tAlbum.infoHash, ['downloadLimited']))!.downloadLimited === true ? true : undefined), 10_000, () => 'the limits to apply');
  expect(await byHash(tAlbum.infoHash, ['downloadLimit', 'downloadLimited', 'uploadLimit', 'uploadLimited'])).toEqual({ downloadLimit: 250, downloadLimited: true, uploadLimit: 40, uploadLimited: true });
  await page.waitForTimeout(1600); // one more poll: the picture shows settled values
  await page.screenshot({ path: join(SHOTS, '2-details.png'), fullPage: true });
  // 0 is a limit too (no upload at all), not refused by the form nor raised to 1.
  await page.fill('#limit-up', '0');
  await page.click('#torrent-limits button[type="submit"]');
  await poll(async () => ((await byHash(tAlbum.infoHash, ['uploadLimit']))!.uploadLimit === 0 ? true : undefined), 10_000, () => 'the upload limit of 0 to apply');
  expect(await byHash(tAlbum.infoHash, ['uploadLimit', 'uploadLimited'])).toEqual({ uploadLimit: 0, uploadLimited: true });

  // The turtle: on from the header, still on after a reload.
  await page.click('#turtle');
  await page.locator('#turtle[aria-pressed="true"]').waitFor();
  expect((await rpc('session-get', { fields: ['alt-speed-enabled'] })).arguments['alt-speed-enabled']).toBe(true);
  await page.reload();
  await page.locator('#turtle[aria-pressed="true"]').waitFor();
  expect(await page.locator('#totals').textContent()).toContain('turtle: 50 / 50 kB/s');
  await page.screenshot({ path: join(SHOTS, '3-turtle-on.png') });

  // Preferences: global limits, the turtle's limits and schedule, the download dir.
  await page.click('#prefs-button');
  await page.locator('#prefs[open]').waitFor();
  expect(await page.inputValue('#pref-download-dir')).toBe(downloadDir);
  await page.check('#pref-down-on');
  await page.fill('#pref-down', '800');
  await page.fill('#pref-alt-down', '120');
  await page.fill('#pref-alt-up', '30');
  await page.check('#pref-sched-on');
  await page.fill('#pref-sched-begin', '01:30');
  await page.fill('#pref-sched-end', '06:45');
  for (const day of ['0', '6']) await page.uncheck(`#pref-sched-days input[data-day="${day}"]`);
  const newDir = join(dir, 'new-downloads');
  await page.fill('#pref-download-dir', newDir);
  await page.screenshot({ path: join(SHOTS, '4-preferences.png') });
  await page.click('#prefs-save');
  await page.locator('#prefs').waitFor({ state: 'hidden' });
  const s = (await rpc('session-get')).arguments;
  expect({
    down: [s['speed-limit-down'], s['speed-limit-down-enabled']],
    alt: [s['alt-speed-down'], s['alt-speed-up']],
    schedule: [s['alt-speed-time-enabled'], s['alt-speed-time-begin'], s['alt-speed-time-end'], s['alt-speed-time-day']],
    dir: s['download-dir'],
  }).toEqual({ down: [800, true], alt: [120, 30], schedule: [true, 90, 405, 0b0111110], dir: newDir });
  // A bad value is refused by the daemon and said in the dialog, which stays open.
  await page.click('#prefs-button');
  await page.fill('#pref-download-dir', 'relative/path');
  await page.click('#prefs-save');
  await page.locator('#prefs-message', { hasText: 'not saved: download directory path is not absolute' }).waitFor();
  await page.click('#prefs-cancel');
  await page.locator('#prefs').waitFor({ state: 'hidden' });

  // Set location: the seeding torrent's data moves, and it seeds on from there.
  const seedRow = page.locator(`tr[data-hash="${tSeeded.infoHash}"]`);
  await seedRow.locator('td.name').click();
  await page.locator('#details-title', { hasText: 'debian-12.7-netinst.iso' }).waitFor();
  const isos = join(dir, 'isos');
  await page.fill('#location-path', isos);
  await page.click('#location button[type="submit"]');
  await page.locator('#message', { hasText: `moved to ${isos}` }).waitFor();
  expect(existsSync(join(isos, 'debian-12.7-netinst.iso'))).toBe(true);
  expect(existsSync(join(downloadDir, 'debian-12.7-netinst.iso'))).toBe(false);
  await page.locator(`tr[data-hash="${tSeeded.infoHash}"][data-status="6"]`).waitFor();
  await page.locator('#details-summary', { hasText: `saved in ${isos}` }).waitFor();
  await page.waitForTimeout(1600);
  await page.screenshot({ path: join(SHOTS, '5-moved.png'), fullPage: true });

  // Remove with data: the dialog offers both, deleting takes the files.
  await seedRow.locator('button[data-action="remove"]').click();
  await page.locator('#remove-dialog[open]').waitFor();
  await page.screenshot({ path: join(SHOTS, '6-remove.png') });
  await page.click('#remove-delete');
  await seedRow.waitFor({ state: 'detached' });
  await poll(() => (existsSync(join(isos, 'debian-12.7-netinst.iso')) ? undefined : true), 10_000, () => 'the data to be deleted');
  expect(await byHash(tSeeded.infoHash, ['id'])).toBeUndefined();
  // Remove keeping the data: its (sparse, running) file stays.
  const filmFile = join(downloadDir, 'big-buck-bunny-1080p.mkv');
  await poll(() => (existsSync(filmFile) ? true : undefined), 10_000, () => 'the film file to be created');
  await page.locator(`tr[data-hash="${tFilm.infoHash}"] button[data-action="remove"]`).click();
  await page.click('#remove-keep');
  await page.locator(`tr[data-hash="${tFilm.infoHash}"]`).waitFor({ state: 'detached' });
  expect(await rowNames(page)).toEqual(['Concert 2024']);
  expect(existsSync(filmFile)).toBe(true);

  // On a phone: the list keeps name, progress, status and actions.
  await page.setViewportSize({ width: 420, height: 760 });
  expect(await page.locator('#torrent-rows tr td.num').first().isVisible()).toBe(false);
  await page.screenshot({ path: join(SHOTS, '7-phone.png') });
  process.stdout.write(`web UI screenshots: ${SHOTS}\n`);
  expect(errors).toEqual([]);
});
