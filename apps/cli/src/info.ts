import { magnetFromTorrent, type Metainfo } from '@mainline/metainfo';
import { loadTorrent } from './files.js';
import { formatBytes } from './format.js';
import { isMagnet, parseLink } from './magnet.js';

/** Lines describing a .torrent file (or a magnet link), as `mainline info` prints them. */
export function describeTorrent(meta: Metainfo): string[] {
  const lines = [
    `Name:        ${meta.name}`,
    `Info-hash:   ${meta.infoHash}`,
    `Magnet:      ${magnetFromTorrent(meta)}`,
    `Size:        ${formatBytes(meta.totalLength)} (${meta.totalLength} bytes) in ${meta.files.length} file(s)`,
    `Pieces:      ${meta.pieceCount} × ${formatBytes(meta.pieceLength)}`,
    `Private:     ${meta.private ? 'yes' : 'no'}`,
  ];
  if (meta.comment) lines.push(`Comment:     ${meta.comment}`);
  if (meta.createdBy) lines.push(`Created by:  ${meta.createdBy}`);
  if (meta.creationDate !== undefined) lines.push(`Created:     ${new Date(meta.creationDate * 1000).toISOString()}`);
  const tiers = meta.trackers;
  if (tiers.length === 0) lines.push('Trackers:    none');
  tiers.forEach((tier, i) => lines.push(`Tier ${i + 1}:      ${tier.join(', ')}`));
  for (const url of meta.urlList) lines.push(`Web seed:    ${url}`);
  lines.push('Files (numbers for --select):');
  meta.files.forEach((f, i) => lines.push(`  ${String(i + 1).padStart(3)}. ${f.path.join('/')}  (${formatBytes(f.length)})`));
  return lines;
}

export async function info(target: string): Promise<string[]> {
  if (isMagnet(target)) {
    const m = parseLink(target);
    return [
      `Name:        ${m.name ?? '(unknown until metadata arrives)'}`,
      `Info-hash:   ${m.infoHash}`,
      ...m.trackers.map((t) => `Tracker:     ${t}`),
      ...m.peers.map((p) => `Peer:        ${p.ip}:${p.port}`),
      ...m.webSeeds.map((w) => `Web seed:    ${w}`),
    ];
  }
  return describeTorrent(await loadTorrent(target));
}
