/**
 * PROXY protocol v1 (text) and v2 (binary) codec, after HAProxy's
 * doc/proxy-protocol.txt. Pure: no sockets, no timers. The session decides
 * when to send a header and which peers may send one.
 */
import type { Decoded, ProxyAddress } from './proxy-protocol-common';
import { decodeV1, V1_MAX_LENGTH } from './proxy-protocol-v1';
import { decodeV2, V2_DEFAULT_MAX_LENGTH, V2_FIXED_LENGTH } from './proxy-protocol-v2';

export type { ProxyAddress } from './proxy-protocol-common';
export { encodeV1, V1_MAX_LENGTH } from './proxy-protocol-v1';
export { encodeV2, parseV2Datagram, V2_DEFAULT_MAX_LENGTH, V2_SIGNATURE } from './proxy-protocol-v2';

export type ParseResult =
  | { state: 'need-more' }
  | {
      state: 'done';
      /** null for v2 LOCAL (or an unsupported family) and v1 UNKNOWN: use the socket's own endpoints. */
      header: ProxyAddress | null;
      /** Bytes after the header: a subarray of the last pushed chunk, not a copy. */
      rest: Buffer;
    }
  | { state: 'error'; reason: string };

export type ProxyHeaderParserOptions = {
  /** Largest v2 length field accepted (addresses + TLVs); default 2048, at most 65535. */
  maxV2Length?: number;
};

const NEED_MORE: ParseResult = Object.freeze({ state: 'need-more' });

function decode(buf: Buffer, len: number, maxV2: number): Decoded {
  if (len === 0) return undefined;
  // The first byte tells the versions apart: 'P' (v1) or CR (v2 signature).
  if (buf[0] === 0x50) return decodeV1(buf, len);
  if (buf[0] === 0x0d) return decodeV2(buf, len, maxV2);
  return 'not a PROXY protocol header (bad signature)';
}

/**
 * Incremental decoder for a stream that MUST start with a v1 or v2 header;
 * it never guesses whether one is present (spec section 5: only use it on
 * connections from trusted senders). One parser per connection.
 *
 * When a chunk holds the whole header (the usual case) nothing is copied.
 * Otherwise header bytes, and only those, are gathered in a scratch buffer
 * of at most 107 (v1) or 16 + maxV2Length (v2) bytes. push() never throws.
 */
export class ProxyHeaderParser {
  private readonly maxV2: number;
  private scratch: Buffer | null = null;
  private filled = 0;
  private done = false;
  private error: ParseResult | null = null;

  constructor(options: ProxyHeaderParserOptions = {}) {
    const max = options.maxV2Length ?? V2_DEFAULT_MAX_LENGTH;
    if (!Number.isInteger(max) || max < 0 || max > 0xffff) {
      throw new RangeError(`maxV2Length must be an integer in 0..65535, got ${max}`);
    }
    this.maxV2 = max;
  }

  /** Header bytes held between pushes (for tests and memory accounting). */
  get bufferedBytes(): number {
    return this.filled;
  }

  /** The most bytes this parser may ever hold. */
  get maxBufferedBytes(): number {
    return Math.max(V1_MAX_LENGTH, V2_FIXED_LENGTH + this.maxV2);
  }

  push(chunk: Buffer): ParseResult {
    if (this.error) return this.error;
    // Calling again after 'done' is a caller bug: the header was consumed already.
    if (this.done) return { state: 'error', reason: 'push() after the header was complete' };
    try {
      if (this.filled === 0) {
        const r = decode(chunk, chunk.length, this.maxV2);
        if (r !== undefined) return this.finish(r, chunk, typeof r === 'string' ? 0 : r.end);
      }
      let off = 0;
      while (off < chunk.length) {
        const take = Math.min(this.want() - this.filled, chunk.length - off);
        if (take <= 0) return this.fail('internal error: parser made no progress');
        this.stash(chunk, off, take);
        off += take;
        const r = decode(this.scratch!, this.filled, this.maxV2);
        if (r === undefined) continue;
        // Scratch bytes past the header end all came from this chunk (earlier
        // pushes held no complete header), so the rest starts that far back.
        return this.finish(r, chunk, typeof r === 'string' ? 0 : off - (this.filled - r.end));
      }
      return NEED_MORE;
    } catch (err) {
      return this.fail(`internal error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Total header bytes worth gathering given what is known so far. */
  private want(): number {
    const s = this.scratch;
    if (this.filled < V2_FIXED_LENGTH || s === null) return V2_FIXED_LENGTH;
    if (s[0] === 0x0d) return V2_FIXED_LENGTH + s.readUInt16BE(14); // decode() vetted the length
    return V1_MAX_LENGTH;
  }

  private stash(chunk: Buffer, off: number, n: number): void {
    const need = this.filled + n;
    if (this.scratch === null || this.scratch.length < need) {
      // 108 covers v1 and a v2 header without TLVs in one allocation.
      const grown = Buffer.allocUnsafe(Math.max(need, 108, this.want()));
      if (this.scratch) this.scratch.copy(grown, 0, 0, this.filled);
      this.scratch = grown;
    }
    chunk.copy(this.scratch, this.filled, off, off + n);
    this.filled = need;
  }

  private finish(r: Decoded, chunk: Buffer, restAt: number): ParseResult {
    if (typeof r === 'string') return this.fail(r);
    if (r === undefined) return NEED_MORE;
    this.scratch = null;
    this.filled = 0;
    this.done = true; // the result is not kept: it would pin the chunk
    return { state: 'done', header: r.header, rest: chunk.subarray(restAt) };
  }

  private fail(reason: string): ParseResult {
    this.scratch = null;
    this.filled = 0;
    this.error = { state: 'error', reason };
    return this.error;
  }
}
