import { announceReply, mutatedFrom, scrapeReply, udpReply, type PlainBencode } from '@mainline/arbitraries';
import { encode } from '@mainline/bencode';
import fc from 'fast-check';
import { TrackerError, checkUdpReply, parseHttpAnnounceReply, parseHttpScrapeReply, parseUdpAnnounceReply, parseUdpConnectReply, parseUdpScrapeReply } from './index.js';

/** Runs `f`; a TrackerError is a clean refusal, anything else (a MetainfoError leaking, a RangeError...) fails the property. */
function onlyTrackerErrors(f: () => void): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof TrackerError)) throw e;
  }
}

const status = fc.constantFrom(200, 200, 200, 400, 404, 500);
const bodies = (arb: fc.Arbitrary<{ [key: string]: PlainBencode }>): fc.Arbitrary<Buffer> => {
  const encoded = arb.map((r) => encode(r));
  return fc.oneof(encoded, mutatedFrom(encoded), fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)));
};

test('HTTP announce and scrape replies of any body and status only ever raise TrackerError', () => {
  fc.assert(
    fc.property(bodies(announceReply), bodies(scrapeReply), status, (announce, scrape, code) => {
      onlyTrackerErrors(() => {
        const r = parseHttpAnnounceReply({ status: code, body: announce, url: 'http://t/announce' });
        for (const p of r.peers) expect(p.port >= 1 && p.port <= 65535).toBe(true);
      });
      onlyTrackerErrors(() => parseHttpScrapeReply({ status: code, body: scrape, url: 'http://t/scrape' }));
    }),
    { numRuns: 2000 },
  );
});

test('UDP replies of any shape only ever raise TrackerError', () => {
  const hash = new Uint8Array(20);
  fc.assert(
    fc.property(udpReply, ({ datagram, expect: action, family, hashes }) => {
      onlyTrackerErrors(() => {
        const reply = checkUdpReply(datagram, action);
        if (action === 0) expect(parseUdpConnectReply(reply)).toHaveLength(8);
        else if (action === 1) parseUdpAnnounceReply(reply, family);
        else expect(parseUdpScrapeReply(reply, Array.from({ length: hashes }, () => hash)).size).toBeLessThanOrEqual(1);
      });
    }),
    { numRuns: 3000 },
  );
});
