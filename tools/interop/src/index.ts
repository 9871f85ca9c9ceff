export { InteropError, type InteropErrorCode } from './errors.js';
export { freePort, isListening, waitForPort, poll, sleep } from './net.js';
export { startHangUpPeer, type HangUpPeer } from './hang-up-peer.js';
export { makeTempDir, removeTempDir } from './proc.js';
export { liveHeapMeter, type LiveHeapOptions } from './heap.js';
export { makePayload, payloadChunks, type Payload, type PayloadFile, type PayloadSpec, type PayloadFileSpec } from './payload.js';
export { makeTorrent, makeClaimTorrent, type MakeTorrentOptions, type MadeTorrent } from './torrent.js';
export {
  startOpentracker,
  startStaticTracker,
  type OpentrackerOptions,
  type RunningOpentracker,
  type StaticTrackerOptions,
  type RunningStaticTracker,
} from './tracker.js';
export { type ClientStatus, type ClientHandle } from './status.js';
export {
  startLibtorrent,
  ltPeerScript,
  PYTHON,
  type LibtorrentOptions,
  type LibtorrentStatus,
  type LibtorrentEvent,
  type LibtorrentPeer,
  type LibtorrentHandle,
} from './libtorrent.js';
export { makeVethPair, netnsUnavailable, hostMulticastSent, hostMulticastGroups, hostOutsideMulticastGroups, type VethPair, type NetnsEnd, type MulticastCounters } from './netns.js';
export { startAria2, type Aria2Options, type Aria2Status, type Aria2Handle } from './aria2.js';
export {
  startTransmission,
  startTransmissionDaemon,
  transmissionDaemonSettings,
  transmissionRemote,
  type RemoteResult,
  type TransmissionOptions,
  type TransmissionStatus,
  type TransmissionHandle,
  type TransmissionDaemon,
  type TransmissionDaemonOptions,
} from './transmission.js';
export { startTransmissionDaemon4, transmissionRemote4, transmission4Command, transmission4Root, transmission4Version } from './transmission4.js';
export { startLtDhtNode, type LtDhtNode, type LtDhtLine } from './lt-dht.js';
