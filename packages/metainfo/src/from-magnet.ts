import { encode, Preencoded } from '@mainline/bencode';
import type { MagnetLink } from './magnet.js';
import { Metainfo, parseInfo, type ParseOptions } from './metainfo.js';

/**
 * The metainfo of a magnet download once BEP 9 delivered the info dict: `infoBytes` is parsed
 * and validated with `parseInfo` and must hash to the magnet's info-hash (MetainfoError
 * otherwise); the magnet's trackers become the announce list, one tier each in link order (as
 * libtorrent does), and its web seeds the url-list. The name comes from the info dict; `dn` is
 * only a display name until then.
 */
export function metainfoFromMagnet(infoBytes: Uint8Array, magnet: Pick<MagnetLink, 'infoHashBytes' | 'trackers' | 'webSeeds'>, options: ParseOptions = {}): Metainfo {
  const info = parseInfo(infoBytes, { ...options, expectedInfoHash: magnet.infoHashBytes });
  const outer: { announce?: string; announceList: string[][]; urlList: string[] } = {
    announceList: magnet.trackers.map((t) => [t]),
    urlList: [...magnet.webSeeds],
  };
  if (magnet.trackers[0] !== undefined) outer.announce = magnet.trackers[0];
  return new Metainfo(undefined, info.infoBytes, info, outer);
}

/**
 * A .torrent file for a metainfo: the exact info-dict bytes (so the info-hash is unchanged),
 * `announce`, `announce-list`, `url-list`, `comment`, `created by` and `creation date` when set.
 */
export function encodeTorrent(meta: Metainfo): Buffer {
  return encode({
    announce: meta.announce,
    'announce-list': meta.announceList.length > 0 ? meta.announceList.map((tier) => [...tier]) : undefined,
    comment: meta.comment,
    'created by': meta.createdBy,
    'creation date': meta.creationDate,
    info: new Preencoded(meta.infoBytes),
    'url-list': meta.urlList.length > 0 ? [...meta.urlList] : undefined,
  });
}
