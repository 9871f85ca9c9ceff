import { writeFile } from 'node:fs/promises';
import { createTorrent, type CreateTorrentOptions } from '@mainline/metainfo';
import { formatBytes, formatRate } from './format.js';
import { Progress, type ProgressOptions } from './progress.js';

export interface CreateCommandOptions {
  output: string;
  trackers?: string[];
  pieceLength?: number;
  private?: boolean;
  comment?: string;
  webSeeds?: string[];
  name?: string;
  source?: string;
  /** Record creation date and "created by" (off gives byte-reproducible output). */
  stamp?: boolean;
  progress?: ProgressOptions;
}

export async function create(path: string, options: CreateCommandOptions): Promise<{ infoHash: string; lines: string[] }> {
  const progress = await Progress.open(options.progress);
  const started = Date.now();
  const createOptions: CreateTorrentOptions = {
    trackers: options.trackers ?? [],
    webSeeds: options.webSeeds ?? [],
    private: options.private ?? false,
    onProgress: (done, total) => {
      const seconds = (Date.now() - started) / 1000;
      progress.update(total === 0 ? 1 : done / total, `hashing ${formatBytes(done)}/${formatBytes(total)} ${formatRate(seconds > 0 ? done / seconds : 0)}`);
    },
  };
  if (options.pieceLength !== undefined) createOptions.pieceLength = options.pieceLength;
  if (options.comment !== undefined) createOptions.comment = options.comment;
  if (options.name !== undefined) createOptions.name = options.name;
  if (options.source !== undefined) createOptions.source = options.source;
  if (options.stamp !== false) {
    createOptions.createdBy = 'mainline';
    createOptions.creationDate = new Date();
  }
  const created = await createTorrent(path, createOptions);
  progress.done();
  await writeFile(options.output, created.torrent);
  const meta = created.metainfo;
  const lines = [
    `Created ${options.output}: ${meta.name}, ${formatBytes(meta.totalLength)} in ${meta.files.length} file(s), ${meta.pieceCount} pieces of ${formatBytes(meta.pieceLength)}`,
    `Info-hash: ${meta.infoHash}`,
    ...created.skipped.map((s) => `Skipped ${s.path} (${s.reason})`),
  ];
  return { infoHash: meta.infoHash, lines };
}
