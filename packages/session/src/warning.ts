import { asError } from './as-error.js';

/**
 * What went wrong without stopping the torrent:
 * - `resume-read` / `resume-save`: the resume record could not be read (the data is checked
 *   again) or written (the next start checks it again);
 * - `torrent-read` / `torrent-save`: a magnet's saved .torrent could not be read (the metadata is
 *   fetched) or written (the next run fetches it again);
 * - `tracker-stop`: telling the trackers we stopped failed;
 * - `storage-close`: closing the files failed (data written last may not be on disk);
 * - `remove`: a torrent being removed (a cancelled magnet's) could not be stopped cleanly;
 * - `stop`: stopping a torrent at session close failed.
 */
export type WarningKind = 'resume-read' | 'resume-save' | 'torrent-read' | 'torrent-save' | 'tracker-stop' | 'storage-close' | 'remove' | 'stop';

/** A trouble worth telling the user (CLI line, daemon errorString) that did not stop the torrent. */
export interface TorrentWarning {
  what: WarningKind;
  /** The torrent's (or magnet's) hex info-hash and name. */
  infoHash: string;
  name: string;
  error: Error;
  /** `<what>: <error message>`, for people. */
  message: string;
}

export function makeWarning(what: WarningKind, torrent: { infoHash: string; name: string }, err: unknown): TorrentWarning {
  const error = asError(err);
  return { what, infoHash: torrent.infoHash, name: torrent.name, error, message: `${what}: ${error.message}` };
}
