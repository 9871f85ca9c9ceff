import { writeFile } from 'node:fs/promises';
import { createTorrent, type CreateTorrentOptions } from '@mainline/metainfo';
import { fileError } from './files.js';
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
  let created: Awaited<ReturnType<typeof createTorrent>>;
  try {
    created = await createTorrent(path, createOptions);
  } catch (err) {
    // A file of the tree that cannot be read is named by the error itself (`path`); the rest is about `path`.
    const e = err as NodeJS.ErrnoException;
    throw e?.code && e.path ? fileError('read', e.path, e) : new Error(`cannot create a torrent of ${path}: ${e?.message ?? String(err)}`);
  } finally {
    progress.done();
  }
  await writeFile(options.output, created.torrent).catch((err: unknown) => {
    throw fileError('write', options.output, err);
  });
  const meta = created.metainfo;
  const lines = [
    `Created ${options.output}: ${meta.name}, ${formatBytes(meta.totalLength)} in ${meta.files.length} file(s), ${meta.pieceCount} pieces of ${formatBytes(meta.pieceLength)}`,
    `Info-hash: ${meta.infoHash}`,
    ...created.skipped.map((s) => `Skipped ${s.path} (${s.reason})`),
  ];
  return { infoHash: meta.infoHash, lines };
}
