// fast-check: the KRPC decoder and a live node's receive() on generated, mutated and random datagrams.
import { bencodeishBytes, krpcMessage, mutatedFrom } from '@mainline/arbitraries';
import { encode } from '@mainline/bencode';
import { ManualClock } from '@mainline/rate';
import fc from 'fast-check';
import { decodeKrpc } from './krpc.js';
import { DhtNode } from './node.js';

const encoded = krpcMessage.map((m) => encode(m));
const datagrams = fc.oneof({ weight: 3, arbitrary: encoded }, { weight: 3, arbitrary: mutatedFrom(encoded) }, { weight: 1, arbitrary: bencodeishBytes });
const RUNS = Number(process.env.DHT_PROPERTY_RUNS ?? 100_000);

// Plain checks inside the properties: jest's expect costs more than the decoding it checks.
function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

test(`decodeKrpc never throws and what it accepts is well-formed (${RUNS} datagrams)`, () => {
  let accepted = 0;
  fc.assert(
    fc.property(datagrams, (d) => {
      const r = decodeKrpc(d);
      if (!r.ok) return;
      accepted++;
      const m = r.message;
      check(m.t.length > 0 && m.t.length <= 32, 'transaction id length');
      if (m.kind === 'query') {
        check(m.id.length === 20, 'query id');
        if (m.method === 'find_node') check(m.target.length === 20, 'target');
        if (m.method === 'get_peers' || m.method === 'announce_peer') check(m.infoHash.length === 20, 'info_hash');
        if (m.method === 'announce_peer') check(m.impliedPort || (m.port! > 0 && m.port! < 65536), 'port');
      } else if (m.kind === 'response') {
        check(m.id.length === 20, 'response id');
        for (const n of [...(m.nodes ?? []), ...(m.nodes6 ?? [])]) check(n.id.length === 20 && n.port >= 0 && n.port < 65536, 'node');
        for (const v of m.values ?? []) check(v.port >= 0 && v.port < 65536, 'value');
      } else check(Number.isSafeInteger(m.code), 'error code');
    }),
    { numRuns: RUNS },
  );
  // The generator reaches the success paths, not only the refusals.
  expect(accepted).toBeGreaterThan(RUNS / 10);
});

test(`a node's receive() never throws and every reply it sends is valid KRPC (${RUNS / 5} datagrams)`, () => {
  const sent: Uint8Array[] = [];
  const node = new DhtNode({ clock: new ManualClock(), bootstrap: [], rateLimit: false, socket: { send: (d) => sent.push(d) } });
  const sources = fc.record({ address: fc.constantFrom('10.0.0.1', '10.0.0.2', '::ffff:10.0.0.3', 'fd00::1', 'not-an-ip'), port: fc.constantFrom(1, 6881, 65535, 0, 70000) });
  fc.assert(
    fc.property(datagrams, sources, (d, from) => {
      sent.length = 0;
      node.receive(d, from);
      for (const reply of sent) check(decodeKrpc(reply).ok, 'reply decodes');
    }),
    { numRuns: RUNS / 5 },
  );
  const s = node.stats();
  expect(s.sent.responses).toBeGreaterThan(0);
  expect(s.sent.errors).toBeGreaterThan(0);
  node.close();
});
