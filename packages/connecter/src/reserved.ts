import { ConnecterError } from './errors.js';

/** BEP 5 DHT: bit 0x01 of reserved[7]. */
export const RESERVED_DHT = { byte: 7, mask: 0x01 } as const;
/** BEP 6 fast extension: bit 0x04 of reserved[7]. */
export const RESERVED_FAST = { byte: 7, mask: 0x04 } as const;
/** BEP 10 extension protocol: bit 0x10 of reserved[5]. */
export const RESERVED_EXTENDED = { byte: 5, mask: 0x10 } as const;

export interface ReservedFlags {
  fast?: boolean;
  extended?: boolean;
  dht?: boolean;
}

/** Builds the 8 reserved handshake bytes. */
export function makeReserved(flags: ReservedFlags): Uint8Array {
  const r = new Uint8Array(8);
  if (flags.fast) r[RESERVED_FAST.byte] = (r[RESERVED_FAST.byte] as number) | RESERVED_FAST.mask;
  if (flags.extended) r[RESERVED_EXTENDED.byte] = (r[RESERVED_EXTENDED.byte] as number) | RESERVED_EXTENDED.mask;
  if (flags.dht) r[RESERVED_DHT.byte] = (r[RESERVED_DHT.byte] as number) | RESERVED_DHT.mask;
  return r;
}

/** Reads the flags we know from 8 reserved bytes. */
export function parseReserved(reserved: Uint8Array): Required<ReservedFlags> {
  if (reserved.length !== 8) throw new ConnecterError('BAD_ARGUMENT', `reserved must be 8 bytes, got ${reserved.length}`);
  const has = (f: { byte: number; mask: number }): boolean => ((reserved[f.byte] as number) & f.mask) !== 0;
  return { fast: has(RESERVED_FAST), extended: has(RESERVED_EXTENDED), dht: has(RESERVED_DHT) };
}

/** Our default: fast (BEP 6) and extension protocol (BEP 10). */
export const DEFAULT_RESERVED: Uint8Array = makeReserved({ fast: true, extended: true });
