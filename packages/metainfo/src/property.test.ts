import { announceReply, magnetLink, mutatedFrom, mutatedMagnetLink, scrapeReply, torrentSeeds } from '@mainline/arbitraries';
import fc from 'fast-check';
import { BencodeError, encode } from '@mainline/bencode';
import { MAX_MAGNET_TRACKERS, MetainfoError, parseMagnet, parseTorrent, validateScrapeResponse, validateTrackerResponse } from './index.js';
import { fixturesDir } from './test-support.js';

const seeds = torrentSeeds(encode, fixturesDir());

describe('parseTorrent on mutated torrents', () => {
  it.each([true, false])('only ever throws MetainfoError or BencodeError (strict %s)', (strict) => {
    let parsed = 0;
    fc.assert(
      fc.property(mutatedFrom(seeds), (bytes) => {
        try {
          const meta = parseTorrent(bytes, { strict });
          parsed++;
          // Whatever parses is internally consistent.
          expect(meta.pieceCount).toBe(Math.ceil(meta.totalLength / meta.pieceLength));
          for (const f of meta.files) for (const c of f.path) expect(c === '' || c === '.' || c === '..' || /[/\\\0]/.test(c)).toBe(false);
        } catch (e) {
          if (!(e instanceof MetainfoError) && !(e instanceof BencodeError)) throw e;
        }
      }),
      { numRuns: 3000 },
    );
    // The mutations are not all fatal: some still parse, so the property also exercises success paths.
    expect(parsed).toBeGreaterThan(0);
  });
});

/** Runs `f`; a MetainfoError or BencodeError is a clean refusal (false), anything else fails the property. */
function refusedCleanly(f: () => void): boolean {
  try {
    f();
    return true;
  } catch (e) {
    if (e instanceof MetainfoError || e instanceof BencodeError) return false;
    throw e;
  }
}

describe('parseMagnet on generated and mutated links', () => {
  it('only ever throws MetainfoError; what parses has a hex info-hash and capped, distinct lists', () => {
    let parsed = 0;
    fc.assert(
      fc.property(fc.oneof(magnetLink, mutatedMagnetLink), (link) => {
        const ok = refusedCleanly(() => {
          const m = parseMagnet(link);
          expect(m.infoHash).toMatch(/^[0-9a-f]{40}$/);
          expect(m.trackers.length).toBeLessThanOrEqual(MAX_MAGNET_TRACKERS);
          expect(new Set(m.trackers).size).toBe(m.trackers.length);
          for (const p of m.peers) expect(p.port >= 1 && p.port <= 65535).toBe(true);
        });
        if (ok) parsed++;
      }),
      { numRuns: 3000 },
    );
    expect(parsed).toBeGreaterThan(0);
  });
});

describe('tracker replies, generated and mutated', () => {
  it('validateTrackerResponse only ever throws MetainfoError or BencodeError; peers it returns are dialable', () => {
    fc.assert(
      fc.property(fc.oneof(announceReply.map((r) => encode(r)), mutatedFrom(announceReply.map((r) => encode(r)))), (bytes) => {
        refusedCleanly(() => {
          const r = validateTrackerResponse(bytes);
          if (r.failureReason !== undefined) return;
          for (const p of r.peers) expect(p.port >= 1 && p.port <= 65535 && p.ip.length > 0).toBe(true);
        });
      }),
      { numRuns: 3000 },
    );
  });

  it('validateScrapeResponse only ever throws MetainfoError or BencodeError', () => {
    fc.assert(
      fc.property(fc.oneof(scrapeReply.map((r) => encode(r)), mutatedFrom(scrapeReply.map((r) => encode(r)))), (bytes) => {
        refusedCleanly(() => validateScrapeResponse(bytes));
      }),
      { numRuns: 2000 },
    );
  });
});
