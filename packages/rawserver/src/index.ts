export {
  RawServer,
  RAWSERVER_DEFAULTS,
  type RawServerOptions,
  type ListenOptions,
  type ListenResult,
  type ConnectOptions,
  type TaskHandle,
} from './raw-server.js';
export { SingleSocket, isLoopback, type SocketHandler, type CloseReason, type SocketState } from './single-socket.js';
export { RawServerError, type RawServerErrorCode } from './errors.js';
