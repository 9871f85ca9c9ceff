/**
 * Session settings set over RPC (session-set) besides the config file's: kept in the state
 * directory's session record and applied by the daemon. Defaults are Transmission 3.00's.
 */
export interface SessionPrefs {
  /** Added torrents start at once (false: they are added stopped, `--start-paused`). */
  startAddedTorrents: boolean;
  /** Seeding stops after this many minutes without traffic, when enabled (per torrent: seedIdleMode 0). */
  idleSeedingLimit: number;
  idleSeedingLimitEnabled: boolean;
  /** New torrents' data lives here until it is verified complete, then moves to the download dir. */
  incompleteDir: string;
  incompleteDirEnabled: boolean;
  /** Run when a torrent finishes downloading / when one is added, with Transmission's TR_* variables. */
  scriptTorrentDoneFilename: string;
  scriptTorrentDoneEnabled: boolean;
  scriptTorrentAddedFilename: string;
  scriptTorrentAddedEnabled: boolean;
  /** Run when a torrent stops seeding at its ratio or idle limit (Transmission 4's done-seeding script). */
  scriptTorrentDoneSeedingFilename: string;
  scriptTorrentDoneSeedingEnabled: boolean;
  /** New torrents download their pieces in order (Transmission 4.1's session `sequential_download`). */
  sequentialDownload: boolean;
  /** At most this many torrents download / seed at once; the others wait (status 3 / 5). */
  downloadQueueEnabled: boolean;
  downloadQueueSize: number;
  seedQueueEnabled: boolean;
  seedQueueSize: number;
  /** A torrent that moved no data for this many minutes no longer holds its queue slot. */
  queueStalledEnabled: boolean;
  queueStalledMinutes: number;
  /** A .torrent from the watch directory is deleted once added (else renamed `.added`). */
  trashOriginalTorrentFiles: boolean;
  /** Kept for blocklist-update, which is not supported (blocklist-enabled stays false). */
  blocklistUrl: string;
  /** Most peers of one torrent (a torrent's own `peer-limit` starts from it). */
  peerLimitPerTorrent: number;
  /**
   * Each start listens on a random port of 49152-65535 (Transmission's peer-port-random-low/high
   * defaults), unless the config file or a flag sets the port.
   */
  peerPortRandomOnStart: boolean;
}

export function defaultPrefs(downloadDir: string): SessionPrefs {
  return {
    startAddedTorrents: true,
    idleSeedingLimit: 30,
    idleSeedingLimitEnabled: false,
    incompleteDir: downloadDir,
    incompleteDirEnabled: false,
    scriptTorrentDoneFilename: '',
    scriptTorrentDoneEnabled: false,
    scriptTorrentAddedFilename: '',
    scriptTorrentAddedEnabled: false,
    scriptTorrentDoneSeedingFilename: '',
    scriptTorrentDoneSeedingEnabled: false,
    sequentialDownload: false,
    downloadQueueEnabled: true,
    downloadQueueSize: 5,
    seedQueueEnabled: false,
    seedQueueSize: 10,
    queueStalledEnabled: true,
    queueStalledMinutes: 30,
    trashOriginalTorrentFiles: false,
    blocklistUrl: 'http://www.example.com/blocklist',
    peerLimitPerTorrent: 50,
    peerPortRandomOnStart: false,
  };
}

/** The saved prefs over the defaults; a saved value of the wrong type is dropped. */
export function loadPrefs(defaults: SessionPrefs, saved: unknown): SessionPrefs {
  const out = { ...defaults };
  if (typeof saved !== 'object' || saved === null) return out;
  for (const [k, v] of Object.entries(saved)) {
    if (Object.hasOwn(defaults, k) && typeof v === typeof defaults[k as keyof SessionPrefs]) Object.assign(out, { [k]: v });
  }
  return out;
}
