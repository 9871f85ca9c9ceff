import type { Extension, ExtensionFields, ExtensionPeer } from './extension-host.js';
import { MetadataServer, type MetadataServerOptions } from './metadata-server.js';
import { UT_METADATA, UT_METADATA_ID } from './ut-metadata.js';

/**
 * BEP 9 serving as a wire extension: advertises `ut_metadata` and `metadata_size`, answers
 * requests with slices of the info dict (MetadataServer's rules and allowances). Public
 * torrents only: a private torrent's info dict goes to no one who does not have it (BEP 27).
 */
export class MetadataServing implements Extension {
  readonly name = UT_METADATA;
  readonly preferredId = UT_METADATA_ID;
  readonly publicOnly = true;
  readonly #server: MetadataServer;
  readonly #size: number;

  constructor(metadata: Uint8Array, options: MetadataServerOptions = {}) {
    this.#server = new MetadataServer(metadata, options);
    this.#size = metadata.length;
  }

  handshakeFields(): ExtensionFields {
    return { metadataSize: this.#size };
  }

  onMessage(peer: ExtensionPeer, payload: Uint8Array): void {
    this.#server.onExtended(peer.conn, UT_METADATA_ID, payload);
  }
}
