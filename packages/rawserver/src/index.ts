export { RawServer, type RawServerOptions, type ListenOptions, type ListenResult, type ConnectOptions, type TaskHandle } from './raw-server.js';
export { RAWSERVER_DEFAULTS } from './defaults.js';
export { SingleSocket } from './single-socket.js';
export {
  isLoopback,
  nextSocketId,
  type PeerSocket,
  type SocketHandler,
  type CloseReason,
  type SocketState,
  type WriteLimits,
} from './peer-socket.js';
export { addressBytes } from './address-bytes.js';
export { ConnectionGate, type ConnectionGateOptions, type ConnectionLimits } from './connection-gate.js';
export { RawServerError, type RawServerErrorCode } from './errors.js';
export type { Transport, TransportHost } from './transport.js';
export { TcpTransport, type TcpTransportOptions } from './tcp-transport.js';
export {
  MemoryNetwork,
  MemoryTransport,
  MemorySocket,
  createMemorySocketPair,
  type MemoryNetworkOptions,
  type MemoryTransportOptions,
  type MemorySocketOptions,
  type MemoryEndpoint,
} from './memory.js';
export {
  UdpEndpoint,
  isDhtDatagram,
  isUtpDatagram,
  type DatagramOwner,
  type DatagramRoute,
  type DatagramSource,
  type UdpEndpointOptions,
  type UdpBindOptions,
  type UdpEndpointStats,
} from './udp-endpoint.js';
