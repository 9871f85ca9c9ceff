import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { encodeTorrent, magnetFromTorrent, metainfoFromMagnet, parseMagnet, parseTorrent } from './index.js';
import { errorOf, fixturesDir } from './test-support.js';

const original = (): ReturnType<typeof parseTorrent> => parseTorrent(readFileSync(path.join(fixturesDir(), 'bunny.torrent')));

describe('metainfoFromMagnet', () => {
  it('builds the metainfo from verified info bytes plus the magnet trackers (one tier each) and web seeds', () => {
    const meta = original();
    const magnet = parseMagnet(`magnet:?xt=urn:btih:${meta.infoHash}&dn=shown&tr=http%3A%2F%2Fa%2Fannounce&tr=udp%3A%2F%2Fb%3A80&ws=http%3A%2F%2Fw%2F`);
    const built = metainfoFromMagnet(meta.infoBytes, magnet);
    expect(built.infoHash).toBe(meta.infoHash);
    expect(built.name).toBe(meta.name); // the info dict's name, not dn
    expect(built.files).toEqual(meta.files);
    expect(built.pieces).toEqual(meta.pieces);
    expect(built.trackers).toEqual([['http://a/announce'], ['udp://b:80']]);
    expect(built.announce).toBe('http://a/announce');
    expect(built.urlList).toEqual(['http://w/']);
  });

  it('refuses info bytes that do not hash to the magnet info-hash', () => {
    const meta = original();
    const magnet = parseMagnet(`magnet:?xt=urn:btih:${'ab'.repeat(20)}`);
    expect(errorOf(() => metainfoFromMagnet(meta.infoBytes, magnet))).toBe('BAD_VALUE info');
  });
});

describe('encodeTorrent', () => {
  it('writes a .torrent that parses back to the same info-hash, trackers and web seeds', () => {
    const meta = original();
    const built = metainfoFromMagnet(meta.infoBytes, parseMagnet(magnetFromTorrent(meta)));
    const again = parseTorrent(encodeTorrent(built));
    expect(again.infoHash).toBe(meta.infoHash);
    expect(Buffer.from(again.infoBytes).equals(Buffer.from(meta.infoBytes))).toBe(true);
    expect(again.trackers).toEqual(built.trackers);
    expect(again.urlList).toEqual(built.urlList);
  });

  it('a trackerless magnet gives a .torrent with just the info dict', () => {
    const meta = original();
    const bytes = encodeTorrent(metainfoFromMagnet(meta.infoBytes, { infoHashBytes: meta.infoHashBytes, trackers: [], webSeeds: [] }));
    expect(bytes.subarray(0, 7).toString('latin1')).toBe('d4:info');
    expect(parseTorrent(bytes).trackers).toEqual([]);
  });
});
