export { Daemon, DaemonError, type DaemonOptions, type Entry, type MagnetEntry, type AnyEntry, type AddOptions, type SessionSettings, type TrafficStats } from './daemon.js';
export { RpcHandler, RpcArgumentError, RPC_VERSION, type RpcRequest, type RpcResponse, type RpcHandlerOptions } from './rpc.js';
export { RpcServer, RPC_PATHS, type RpcServerOptions } from './http.js';
export { TORRENT_FIELDS, TR_STATUS, clientName, torrentFields } from './fields.js';
export { StateStore, type TorrentRecord, type SessionRecord, type Priority } from './state.js';
export { ConfigError, defaultConfig, loadConfigFile, mergeConfig, validateConfig, type DaemonConfig } from './config.js';
export { buildProgram, configFrom, runDaemon, startDaemon, VERSION, type RunningDaemon } from './program.js';
