// A simulated DHT: real DhtNodes on a MemoryNetwork driven by a ManualClock.
import { ManualClock } from '@mainline/rate';
import { MemoryNetwork, type MemoryEndpoint } from './memory-network.js';
import { decodeKrpc, type KrpcMessage } from './krpc.js';
import { DhtNode, type DhtOptions } from './node.js';

export interface SimNode {
  readonly node: DhtNode;
  readonly endpoint: MemoryEndpoint;
  readonly host: string;
  readonly port: number;
}

/** 10.x.y.z for index i (a local range: BEP 42 and one-node-per-IP do not apply). */
export const simHost = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** Lets promise continuations run (they are not clock timers). */
export const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Advances the clock in steps until `p` settles (or `maxMs` of simulated time passed). */
export async function runUntil<T>(clock: ManualClock, p: Promise<T>, maxMs = 120_000, stepMs = 10): Promise<T> {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  let failed = false;
  p.then(
    (v) => {
      done = true;
      value = v;
    },
    (e: unknown) => {
      done = true;
      failed = true;
      error = e;
    },
  );
  const end = clock.now() + maxMs;
  await flush();
  while (!done) {
    if (clock.now() >= end) throw new Error(`not settled after ${maxMs} ms of simulated time`);
    clock.advance(stepMs);
    await flush();
  }
  if (failed) throw error;
  return value as T;
}

export class Sim {
  readonly clock = new ManualClock(1_000_000);
  readonly net: MemoryNetwork;
  readonly nodes: SimNode[] = [];

  constructor(latencyMs = 10) {
    this.net = new MemoryNetwork({ clock: this.clock, latencyMs });
  }

  /** Adds a node at simHost(index) (not started); `bootstrap` defaults to the first node. */
  add(options: Partial<DhtOptions> = {}, host = simHost(this.nodes.length + 1), port = 6881): SimNode {
    const endpoint = this.net.endpoint(host, port);
    const first = this.nodes[0];
    const node = new DhtNode({
      clock: this.clock,
      bootstrap: first ? [`${first.host}:${first.port}`] : [],
      ...options,
      socket: endpoint,
    });
    endpoint.onMessage = (data, from) => node.receive(data, from);
    const sim = { node, endpoint, host, port };
    this.nodes.push(sim);
    return sim;
  }

  /** Adds `n` nodes and starts them `batch` at a time, each batch bootstrapping from the first node. */
  async grow(n: number, options: Partial<DhtOptions> = {}, batch = 25): Promise<void> {
    for (let i = 0; i < n; i += batch) {
      const added = Array.from({ length: Math.min(batch, n - i) }, () => this.add(options));
      await runUntil(this.clock, Promise.all(added.map((s) => s.node.start())));
    }
  }

  close(): void {
    for (const s of this.nodes) s.node.close();
  }
}

/** A raw KRPC endpoint for poking nodes with hand-made datagrams and reading what comes back. */
export interface Probe {
  readonly host: string;
  readonly port: number;
  /** Every decodable datagram received, in order. */
  readonly got: KrpcMessage[];
  /** Datagrams received that did not decode. */
  readonly garbage: Uint8Array[];
  send(to: { host: string; port: number }, data: Uint8Array): void;
  /** Sends, lets the network deliver both ways, and returns the replies (not queries) that came back. */
  ask(to: { host: string; port: number }, data: Uint8Array): KrpcMessage[];
}

export function probe(sim: Sim, host = '10.200.0.1', port = 4000): Probe {
  const ep = sim.net.endpoint(host, port);
  const got: KrpcMessage[] = [];
  const garbage: Uint8Array[] = [];
  ep.onMessage = (d) => {
    const r = decodeKrpc(d);
    if (r.ok) got.push(r.message);
    else garbage.push(d);
  };
  const send = (to: { host: string; port: number }, data: Uint8Array): void => ep.send(data, to.port, to.host);
  return {
    host,
    port,
    got,
    garbage,
    send,
    ask: (to, data) => {
      const before = got.length;
      send(to, data);
      sim.clock.advance(50);
      return got.slice(before).filter((m) => m.kind !== 'query');
    },
  };
}
