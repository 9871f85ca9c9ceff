import {
  announceReply,
  bencodeValue,
  bencodeishBytes,
  cuts,
  krpcMessage,
  metadataMessage,
  magnetLink,
  mutatedFrom,
  mutatedMagnetLink,
  scrapeReply,
  splitAt,
  torrentSeeds,
  udpReply,
  wireChunks,
  wireFrame,
  wireStream,
  type PlainBencode,
} from '@mainline/arbitraries';
import { BencodeDict, BencodeError, decode, encode } from '@mainline/bencode';
import {
  ProtocolError,
  WireReader,
  decodeMetadataMessage,
  encodeHandshake,
  encodeMessage,
  makeReserved,
  type Message,
  type WireLimits,
} from '@mainline/connecter';
import { DhtNode, KrpcError, decodeKrpc } from '@mainline/dht';
import { ManualClock } from '@mainline/rate';
import { LsdError, encodeAnnounce, parseAnnounce } from '@mainline/lsd';
import { MetainfoError, parseMagnet, parseTorrent, validateScrapeResponse, validateTrackerResponse } from '@mainline/metainfo';
import {
  TrackerError,
  checkUdpReply,
  parseHttpAnnounceReply,
  parseHttpScrapeReply,
  parseUdpAnnounceReply,
  parseUdpConnectReply,
  parseUdpScrapeReply,
} from '@mainline/rerequester';
import fc from 'fast-check';

/**
 * One parser under attack: what it is fed, how it is run, and which errors are its own. `typed`
 * names an error the parser may raise (its code, for the summary) and returns undefined for
 * anything else: an unexpected exception, which fails the run.
 */
export interface Fuzzer<T = unknown> {
  name: string;
  what: string;
  input: fc.Arbitrary<T>;
  run(input: T): void;
  typed(error: unknown): string | undefined;
}

const define = <T>(f: Fuzzer<T>): Fuzzer => f as unknown as Fuzzer;

const bencodeCode = (e: unknown): string | undefined => (e instanceof BencodeError ? `BencodeError ${e.code}` : undefined);
const metainfoCode = (e: unknown): string | undefined => (e instanceof MetainfoError ? `MetainfoError ${e.code}` : bencodeCode(e));
/** A TrackerError is typed only if what it wraps is typed too: a TypeError dressed as BAD_RESPONSE is a bug. */
const trackerCode = (e: unknown): string | undefined => {
  if (!(e instanceof TrackerError)) return undefined;
  if (e.cause !== undefined && metainfoCode(e.cause) === undefined && !(e.cause instanceof TrackerError)) return undefined;
  return `TrackerError ${e.code}`;
};
const protocolCode = (e: unknown): string | undefined => (e instanceof ProtocolError ? `ProtocolError ${e.code}` : undefined);
const krpcCode = (e: unknown): string | undefined => (e instanceof KrpcError ? `KrpcError ${e.code}` : undefined);
const lsdCode = (e: unknown): string | undefined => (e instanceof LsdError ? `LsdError ${e.code}` : undefined);

/** BEP 14 announces as clients send them: IPv4 or IPv6 Host, 1 to 30 info-hashes, with or without a cookie. */
const lsdAnnounce: fc.Arbitrary<Uint8Array> = fc
  .record({
    family: fc.constantFrom('IPv4' as const, 'IPv6' as const),
    port: fc.integer({ min: 1, max: 65535 }),
    infoHashes: fc.array(fc.uint8Array({ minLength: 20, maxLength: 20 }), { minLength: 1, maxLength: 30 }),
    cookie: fc.option(fc.stringMatching(/^[0-9a-zA-Z]{1,12}$/), { nil: undefined }),
  })
  .map((f) => encodeAnnounce(f));
const LSD_TOKENS = ['\r\n', '\n', '\r', ': ', 'Port: ', 'Infohash: ', 'cookie: ', 'Host: ', 'BT-SEARCH * HTTP/1.1', '0', '65536', '\x00'];

const encodeDict = (d: { [key: string]: PlainBencode }): Uint8Array => encode(d);
/** Encoded generated values, the same with edits, and plain random bytes. */
const encodedOrMutated = (arb: fc.Arbitrary<{ [key: string]: PlainBencode }>): fc.Arbitrary<Uint8Array> => {
  const encoded = arb.map(encodeDict);
  return fc.oneof({ weight: 2, arbitrary: encoded }, { weight: 2, arbitrary: mutatedFrom(encoded) }, { weight: 1, arbitrary: bencodeishBytes });
};

const PIECES = 37;
const LIMITS: WireLimits = { numPieces: PIECES, pieceLength: 32768, totalLength: 32768 * 36 + 1000 };
const BOTH = makeReserved({ fast: true, extended: true });
const EXT_HS: Message = { type: 'extended-handshake', handshake: { m: new Map([['ut_metadata', 3]]), v: 'fuzz', reqq: 250 } };

/** A valid handshake and stream from a peer with fast + extended, as bytes. */
const validStream: fc.Arbitrary<Buffer> = wireStream(PIECES).map(({ first, rest }) =>
  Buffer.concat([
    encodeHandshake(Buffer.alloc(20, 9), Buffer.alloc(20, 8), BOTH),
    ...[...(first ? [first] : []), EXT_HS, ...rest].flatMap((m) => encodeMessage(m as Message)),
  ]),
);

/** Everything a peer may send: random chunks, random frames, valid streams with edits, cut at random points. */
const wireInput = fc.record({
  stream: fc.oneof(
    wireChunks.map((c) => Buffer.concat(c)),
    fc.array(wireFrame, { maxLength: 12 }).map((f) => Buffer.concat(f)),
    mutatedFrom(validStream),
    validStream,
  ),
  cuts,
  handshake: fc.boolean(),
  fast: fc.boolean(),
  extended: fc.boolean(),
  piecesUnknown: fc.boolean(),
  transient: fc.boolean(),
});

/** The fuzzers `pnpm fuzz` runs; `fixturesDir` adds webtorrent-fixtures' torrents to the torrent seeds. */
export function fuzzers(options: { fixturesDir?: string } = {}): Fuzzer[] {
  const torrents = torrentSeeds(encodeDict, options.fixturesDir);
  const values = bencodeValue<BencodeDict>((entries) => new BencodeDict(entries)).map((v) => encode(v));
  const krpc = krpcMessage.map(encodeDict);
  // A live node behind a socket that only checks what it is given: replies must be valid KRPC too.
  const dht = new DhtNode({
    clock: new ManualClock(),
    bootstrap: [],
    rateLimit: false,
    socket: {
      send: (reply) => {
        const r = decodeKrpc(reply);
        if (!r.ok) throw new Error(`the node sent invalid KRPC: ${r.error.message}`);
      },
    },
  });
  return [
    define({
      name: 'bencode',
      what: 'decode() of random bytes, bencode-like bytes and edited encodings, strict and lenient',
      input: fc.tuple(fc.oneof(bencodeishBytes, values, mutatedFrom(values)), fc.boolean()),
      run: ([bytes, strict]) => void decode(bytes, { strict }),
      typed: bencodeCode,
    }),
    define({
      name: 'torrent',
      what: 'parseTorrent() of edited .torrent files, strict and lenient',
      input: fc.tuple(mutatedFrom(torrents), fc.boolean()),
      run: ([bytes, strict]) => void parseTorrent(bytes, { strict }),
      typed: metainfoCode,
    }),
    define({
      name: 'magnet',
      what: 'parseMagnet() of generated links, and of them with byte edits',
      input: fc.oneof(magnetLink, mutatedMagnetLink),
      run: (link) => void parseMagnet(link),
      typed: metainfoCode,
    }),
    define({
      name: 'http-tracker',
      what: 'announce and scrape replies: validate*Response() on the body, then the HTTP client\'s reading of body + status',
      input: fc.tuple(fc.oneof(encodedOrMutated(announceReply), encodedOrMutated(scrapeReply)), fc.constantFrom(200, 200, 200, 200, 200, 200, 400, 500), fc.boolean()),
      run: ([body, status, scrape]) => {
        const reply = { status, body: Buffer.from(body), url: 'http://t/announce' };
        // The metainfo validators raise their own errors; the HTTP layer turns them into TrackerErrors.
        try {
          if (scrape) validateScrapeResponse(body);
          else validateTrackerResponse(body);
        } catch (e) {
          if (metainfoCode(e) === undefined) throw e;
        }
        if (scrape) parseHttpScrapeReply(reply, reply.url);
        else parseHttpAnnounceReply(reply, reply.url);
      },
      typed: trackerCode,
    }),
    define({
      name: 'udp-tracker',
      what: 'BEP 15 connect, announce, scrape and error replies of any length and action',
      input: udpReply,
      run: ({ datagram, expect, family, hashes }) => {
        const reply = checkUdpReply(datagram, expect, 'udp://t:1');
        if (expect === 0) parseUdpConnectReply(reply);
        else if (expect === 1) parseUdpAnnounceReply(reply, family);
        else parseUdpScrapeReply(reply, Array.from({ length: hashes }, (_, i) => new Uint8Array(20).fill(i)));
      },
      typed: trackerCode,
    }),
    define({
      name: 'wire',
      what: 'WireReader on handshakes and messages: random chunks and frames, valid streams and edits of them, cut anywhere',
      input: wireInput,
      run: (w) => {
        const reader = new WireReader(
          { onInfoHash: () => undefined, onPeerId: () => undefined, onMessage: () => undefined },
          w.handshake
            ? { handshake: true, localReserved: BOTH, transient: w.transient, limits: w.piecesUnknown ? { numPieces: 0, piecesUnknown: true } : LIMITS }
            : { handshake: false, fast: w.fast, extended: w.extended, transient: w.transient, limits: LIMITS },
        );
        for (const chunk of splitAt(w.stream, w.cuts)) reader.push(chunk);
      },
      typed: protocolCode,
    }),
    define({
      name: 'dht',
      what: 'decodeKrpc() of generated KRPC queries, responses and errors, edits of them and random bytes; then a live DhtNode receives each one',
      input: fc.tuple(fc.oneof({ weight: 3, arbitrary: krpc }, { weight: 3, arbitrary: mutatedFrom(krpc) }, { weight: 1, arbitrary: bencodeishBytes }), fc.constantFrom('10.0.0.1', '::ffff:10.0.0.2', 'fd00::1')),
      run: ([datagram, address]) => {
        dht.receive(datagram, { address, port: 6881 });
        const r = decodeKrpc(datagram);
        if (!r.ok) throw r.error;
      },
      typed: krpcCode,
    }),
    define({
      name: 'ut_metadata',
      what: 'decodeMetadataMessage() of BEP 9 dictionaries with random fields and tails, edits of them, and random bytes',
      input: fc.oneof(
        metadataMessage.map(({ fields, tail, known }) => ({ payload: Buffer.concat([encode(fields), Buffer.alloc(tail % 20_000)]), known })),
        mutatedFrom(metadataMessage.map(({ fields }) => encode(fields))).map((payload) => ({ payload, known: undefined })),
        fc.record({ payload: fc.uint8Array({ maxLength: 200 }), known: fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }) }),
      ),
      run: ({ payload, known }) => void decodeMetadataMessage(payload, known),
      typed: protocolCode,
    }),
    define({
      name: 'lsd',
      what: 'parseAnnounce() of BEP 14 announces, edits of them (line breaks, headers, ports, NULs) and random bytes',
      input: fc.oneof(lsdAnnounce, mutatedFrom(lsdAnnounce, { tokens: LSD_TOKENS, max: 6 }), fc.uint8Array({ maxLength: 1600 })),
      run: (datagram) => void parseAnnounce(datagram),
      typed: lsdCode,
    }),
  ];
}
