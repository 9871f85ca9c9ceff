// A DhtNode on a UDP socket of its own: a bootstrap node, a probe, a node outside any client.
import { DhtNode, type DhtOptions } from './node.js';
import { UdpDatagramSocket } from './udp.js';

export interface StandaloneDhtOptions extends Omit<DhtOptions, 'socket'> {
  /** Address to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Port (default 0: any free one). */
  readonly port?: number;
  /** Join at once, resolving after the bootstrap (default true). */
  readonly start?: boolean;
}

export interface StandaloneDht {
  readonly node: DhtNode;
  readonly socket: UdpDatagramSocket;
  /** `host:port` to give others as a bootstrap node. */
  readonly address: string;
  /** Closes the node, then its socket. */
  close(): Promise<void>;
}

/** Binds a socket and runs a DhtNode on it (started, unless `start: false`). */
export async function startStandaloneDht(options: StandaloneDhtOptions = {}): Promise<StandaloneDht> {
  const { host, port, start, ...rest } = options;
  const ref: { node?: DhtNode } = {};
  const socket = await UdpDatagramSocket.bind({ host: host ?? '127.0.0.1', port: port ?? 0, onMessage: (d, from) => ref.node?.receive(d, from) });
  let node: DhtNode;
  try {
    node = new DhtNode({ ...rest, socket });
  } catch (err) {
    await socket.close();
    throw err;
  }
  ref.node = node;
  const close = async (): Promise<void> => {
    node.close();
    await socket.close();
  };
  if (start ?? true) await node.start();
  const h = socket.localAddress;
  return { node, socket, address: h.includes(':') ? `[${h}]:${socket.localPort}` : `${h}:${socket.localPort}`, close };
}
