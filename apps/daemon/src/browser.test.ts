import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent } from '@mainline/interop';
import { browserPages, remote, spawnDaemon } from './test-helpers.js';

// Debian's chromium, driven by playwright-core (no browser download), against the built daemon.
jest.setTimeout(90_000);

export const SCREENSHOT = join(tmpdir(), 'mainline-ui.png');

const newPage = browserPages();

test('the web UI lists torrents with progress bars, adds one by upload, stops and starts it', async () => {
  const dir = makeTempDir('daemon-ui');
  const downloadDir = join(dir, 'downloads');
  // One torrent whose data is all there (seeding), one with 60% of it (downloading, no peers).
  const full = await makePayload(downloadDir, { name: 'debian-12.7-netinst.iso', size: 3_000_000 });
  const tFull = makeTorrent(full.path, { pieceLength: 32 * 1024, outPath: join(dir, 'full.torrent') });
  const part = await makePayload(join(dir, 'src'), { name: 'big-buck-bunny.mkv', size: 2_000_000 });
  const tPart = makeTorrent(part.path, { pieceLength: 32 * 1024, outPath: join(dir, 'part.torrent') });
  writeFileSync(join(downloadDir, 'big-buck-bunny.mkv'), readFileSync(part.path).subarray(0, 1_200_000));
  const upload = await makePayload(join(dir, 'src'), { name: 'album', files: [{ path: '01 intro.flac', size: 400_000 }, { path: '02 theme.flac', size: 600_000 }] });
  const tUpload = makeTorrent(upload.path, { pieceLength: 32 * 1024, outPath: join(dir, 'album.torrent'), trackers: ['http://127.0.0.1:9/announce'] });

  const d = await spawnDaemon({ stateDir: join(dir, 'state'), downloadDir });
  await remote(d.rpcPort, '-a', tFull.path);
  await remote(d.rpcPort, '-a', tPart.path);

  const page = await newPage(760);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${d.rpcPort}/`);

  const fullRow = page.locator(`tr[data-hash="${tFull.infoHash}"]`);
  await fullRow.locator('.bar[aria-valuenow="100.0"]').waitFor({ timeout: 15000 });
  expect(await fullRow.textContent()).toContain('debian-12.7-netinst.iso');
  const partRow = page.locator(`tr[data-hash="${tPart.infoHash}"]`);
  await partRow.locator('.bar').waitFor();
  const partPct = Number(await partRow.locator('.bar').getAttribute('aria-valuenow'));
  expect(partPct).toBeGreaterThan(50);
  expect(partPct).toBeLessThan(61);

  // Add by upload.
  await page.setInputFiles('#file-input', tUpload.path);
  await page.click('#upload-button');
  const upRow = page.locator(`tr[data-hash="${tUpload.infoHash}"]`);
  await upRow.waitFor({ timeout: 10000 });
  expect(await upRow.textContent()).toContain('album');
  // (The list's own poll may show the row before the add's answer is in.)
  await page.locator('#message', { hasText: 'added album' }).waitFor();

  // Stop, then start it again.
  await upRow.locator('button[data-action="stop"]').click();
  await page.locator(`tr[data-hash="${tUpload.infoHash}"][data-status="0"]`).waitFor({ timeout: 10000 });
  expect(await remote(d.rpcPort, '-l')).toMatch(/Stopped\s+album/);
  await page.locator(`tr[data-hash="${tUpload.infoHash}"] button[data-action="start"]`).click();
  await page.locator(`tr[data-hash="${tUpload.infoHash}"]:not([data-status="0"])`).waitFor({ timeout: 10000 });

  // Details of the uploaded one: its files and trackers.
  await page.locator(`tr[data-hash="${tUpload.infoHash}"] td.name`).click();
  await page.locator('#details-files tbody tr').nth(1).waitFor({ timeout: 10000 });
  expect(await page.locator('#details-files').textContent()).toContain('album/02 theme.flac');
  expect(await page.locator('#details-trackers').textContent()).toContain('http://127.0.0.1:9/announce');

  // A magnet link by the URL form: listed at once by its dn, fetching its metadata (no peer has it).
  const hash = 'dec0de'.padEnd(40, '5');
  await page.fill('#url-input', `magnet:?xt=urn:btih:${hash}&dn=ubuntu-24.04.iso`);
  await page.click('#add-url button[type="submit"]');
  const magnetRow = page.locator(`tr[data-hash="${hash}"]`);
  await magnetRow.waitFor({ timeout: 10000 });
  expect(await magnetRow.locator('td.name').textContent()).toBe('ubuntu-24.04.iso');
  expect(await magnetRow.locator('td.status').textContent()).toBe('Fetching metadata 0%');
  expect(await magnetRow.locator('button[data-action="verify"]').count()).toBe(0);
  await magnetRow.locator('td.name').click();
  await page.locator('#details-summary', { hasText: 'fetching metadata' }).waitFor({ timeout: 10000 });

  await page.waitForTimeout(1600); // one more poll, so the picture shows settled rates
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  process.stdout.write(`web UI screenshot: ${SCREENSHOT}\n`);
  expect(statSync(SCREENSHOT).size).toBeGreaterThan(20_000);
  expect(await page.locator('#torrent-rows tr').count()).toBe(4);
  expect(errors).toEqual([]);
});
