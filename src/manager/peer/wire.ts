/**
 * Peer heartbeat wire format. Pure: no sockets, no timers. One UDP datagram = one message.
 *
 *   offset  size  field
 *   0       4     magic "FLCR" (46 4C 43 52)
 *   4       1     version = 1
 *   5       1     type: 1 = advert, 2 = session sync batch
 *   6       1     flags (FLAG_*; unknown bits are passed up, not checked)
 *   7       1     state: 0 = backup, 1 = master, 2 = fault
 *   8       1     priority 0..255 (0 = "leaving / in fault, take over")
 *   9       1     node id length L, 1..64
 *   10      L     node id, UTF-8
 *   10+L    8     seq, uint64 big-endian
 *   18+L    8     timestamp, uint64 big-endian, ms since the epoch
 *   26+L    2     payload length P, uint16 big-endian
 *   28+L    P     payload (empty for adverts; a session batch for type 2)
 *   28+L+P  32    HMAC-SHA256, keyed by the shared peer key, over bytes 0 .. 28+L+P-1
 *
 * A receiver checks, in order: magic, version, lengths ('truncated' if the datagram is
 * shorter than its lengths say, 'malformed' if longer or L is out of range); the MAC, in
 * constant time ('bad_mac'; nothing but magic, version and lengths is read before it);
 * the node id is UTF-8 ('malformed'); the seq is above the highest authentic seq seen
 * from that node id ('replay'; the seq is then recorded, even if a later check fails, so
 * a future-dated datagram cannot be replayed once the clock reaches it); the timestamp is
 * within now ± maxSkewMs ('stale_timestamp'); type and state are known ('malformed').
 *
 * Sequence numbers: seq = (sender boot time in ms << 20) + count of messages sent since
 * boot, one counter per sender for all message types (SequenceCounter). A restarted
 * sender starts above everything it sent before, as long as it averaged fewer than 2^20
 * messages per ms of uptime (~10^9/s: always) and its wall clock did not step back by
 * more than its uptime in between. A receiver that restarts forgets the seqs it saw, so
 * until the sender's next message it may accept replays from the last maxSkewMs.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isUtf8 } from 'node:buffer';

export type PeerState = 'backup' | 'master' | 'fault';
export const MESSAGE_TYPE = { advert: 1, sessionSync: 2 } as const;
/** Advert flag: the sender (a BACKUP) has no full UDP session sync yet and asks the master for one. */
export const FLAG_WANT_FULL_SYNC = 0x01;
/**
 * Advert flag: the sender (a MASTER) has every listener open. A master that
 * hands over on one host (SO_REUSEPORT) closes its own listeners only once it
 * hears this, so there is no moment without one. A node that never sets it
 * (older fulcrum) is waited for at most a master-down interval.
 */
export const FLAG_LISTENING = 0x02;
/** Session batch flag: the last batch of a full sync (every pin the master has). */
export const FLAG_FULL_SYNC_END = 0x01;
export type MessageType = (typeof MESSAGE_TYPE)[keyof typeof MESSAGE_TYPE];

/** Header fields of every message type. flags defaults to 0. */
export interface MessageFields { nodeId: string; state: PeerState; priority: number; seq: bigint; timestamp: number; flags?: number }

export interface Advert {
  version: 1;
  nodeId: string;
  priority: number;
  state: PeerState;
  seq: bigint;
  timestamp: number;
  /** Local bookkeeping only: not on the wire, ignored by encodeAdvert, never set by verify. */
  bootId?: bigint;
}

/** A verified message; with type 1 it is also an Advert. payload is a copy, not a view of the datagram. */
export interface DecodedMessage extends Required<MessageFields> { version: 1; type: MessageType; payload: Buffer }

export type VerifyFailure = 'truncated' | 'bad_magic' | 'bad_version' | 'bad_mac' | 'replay' | 'stale_timestamp' | 'malformed';
export type VerifyResult = { ok: true; message: DecodedMessage } | { ok: false; reason: VerifyFailure };

export const MAGIC = Buffer.from('FLCR', 'latin1');
export const WIRE_VERSION = 1;
export const MAC_LENGTH = 32;
export const MAX_NODE_ID_BYTES = 64;
export const SEQ_COUNTER_BITS = 20n;
/** Largest datagram that crosses any IPv6 path unfragmented: 1280 − 40 (IPv6) − 8 (UDP). */
export const MAX_DATAGRAM_BYTES = 1232;
/** Session batch bound: header (longest node id) + batch + MAC fit in MAX_DATAGRAM_BYTES. */
export const SESSION_BATCH_MAX_BYTES = MAX_DATAGRAM_BYTES - (28 + MAX_NODE_ID_BYTES + MAC_LENGTH);
/** Node ids whose highest seq a verifier remembers (oldest forgotten first); only MAC-valid senders count. */
export const MAX_TRACKED_NODES = 256;

const U64_MAX = (1n << 64n) - 1n;
const STATES: readonly PeerState[] = ['backup', 'master', 'fault'];

/** Hands out seq numbers: (boot ms << 20) + n, strictly increasing. Create one per process boot. */
export class SequenceCounter {
  /** Boot time in ms, the upper bits of the first seq. */
  readonly bootId: bigint;
  private last: bigint;

  constructor(now: () => number = Date.now) {
    const ms = Math.floor(now());
    if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`SequenceCounter: bad clock value ${ms}`);
    this.bootId = BigInt(ms);
    this.last = (this.bootId << SEQ_COUNTER_BITS) - 1n;
  }

  next(): bigint {
    if (this.last >= U64_MAX) throw new RangeError('SequenceCounter: uint64 exhausted');
    return ++this.last;
  }
}

/** The UTF-8 bytes of s, 1..max of them; throws if s is not a string that UTF-8 carries losslessly. */
function utf8(s: unknown, max: number, what: string): Buffer {
  const bytes = Buffer.from(String(s), 'utf8');
  if (typeof s !== 'string' || bytes.length < 1 || bytes.length > max || bytes.toString('utf8') !== s) {
    throw new RangeError(`${what} must be 1..${max} bytes of UTF-8: ${JSON.stringify(s)}`);
  }
  return bytes;
}

const isU8 = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 255;

/** Encodes and signs one message. Throws TypeError/RangeError on invalid fields (a programming error). */
export function encodeMessage(type: MessageType, fields: MessageFields, payload: Buffer, key: Buffer): Buffer {
  if (type !== 1 && type !== 2) throw new RangeError(`unknown message type ${String(type)}`);
  if (!Buffer.isBuffer(key) || key.length === 0) throw new RangeError('key must be a non-empty Buffer');
  if (!Buffer.isBuffer(payload) || payload.length > 0xffff) throw new RangeError('payload must be a Buffer of at most 65535 bytes');
  const id = utf8(fields.nodeId, MAX_NODE_ID_BYTES, 'nodeId');
  const state = STATES.indexOf(fields.state);
  if (state < 0) throw new RangeError(`unknown state ${String(fields.state)}`);
  const flags = fields.flags ?? 0;
  if (!isU8(fields.priority) || !isU8(flags)) throw new RangeError('priority and flags must be integers 0..255');
  if (typeof fields.seq !== 'bigint' || fields.seq < 0n || fields.seq > U64_MAX) throw new RangeError('seq must be a uint64 bigint');
  if (!Number.isSafeInteger(fields.timestamp) || fields.timestamp < 0) throw new RangeError('timestamp must be a non-negative safe integer');

  const L = id.length;
  const macAt = 28 + L + payload.length;
  const buf = Buffer.alloc(macAt + MAC_LENGTH);
  MAGIC.copy(buf, 0);
  buf.set([WIRE_VERSION, type, flags, state, fields.priority, L], 4);
  id.copy(buf, 10);
  buf.writeBigUInt64BE(fields.seq, 10 + L);
  buf.writeBigUInt64BE(BigInt(fields.timestamp), 18 + L);
  buf.writeUInt16BE(payload.length, 26 + L);
  payload.copy(buf, 28 + L);
  createHmac('sha256', key).update(buf.subarray(0, macAt)).digest().copy(buf, macAt);
  return buf;
}

export function encodeAdvert(a: Advert, key: Buffer, payload: Buffer = Buffer.alloc(0)): Buffer {
  if (a.version !== WIRE_VERSION) throw new RangeError(`unsupported advert version ${String(a.version)}`);
  return encodeMessage(MESSAGE_TYPE.advert, a, payload, key);
}

export interface AdvertVerifierOptions {
  /** Largest accepted |timestamp − now| in ms; default 2000. */
  maxSkewMs?: number;
  now?: () => number;
}

const fail = (reason: VerifyFailure): VerifyResult => ({ ok: false, reason });

/** Authenticates and decodes datagrams; keeps the highest seq per node id. verify() never throws. */
export class AdvertVerifier {
  private readonly key: Buffer;
  private readonly maxSkewMs: number;
  private readonly now: () => number;
  private readonly highest = new Map<string, bigint>();

  constructor(key: Buffer, options: AdvertVerifierOptions = {}) {
    if (!Buffer.isBuffer(key) || key.length === 0) throw new RangeError('key must be a non-empty Buffer');
    this.key = Buffer.from(key);
    this.maxSkewMs = options.maxSkewMs ?? 2000;
    if (!(this.maxSkewMs >= 0 && Number.isFinite(this.maxSkewMs))) throw new RangeError('maxSkewMs must be a finite number >= 0');
    this.now = options.now ?? Date.now;
  }

  /** Highest authentic seq seen from nodeId, if any. */
  highestSeq(nodeId: string): bigint | undefined {
    return this.highest.get(nodeId);
  }

  verify(buf: Buffer): VerifyResult {
    try {
      return Buffer.isBuffer(buf) ? this.check(buf) : fail('malformed');
    } catch {
      return fail('malformed');
    }
  }

  private check(buf: Buffer): VerifyResult {
    const head = Math.min(buf.length, MAGIC.length);
    if (buf.compare(MAGIC, 0, head, 0, head) !== 0) return fail('bad_magic');
    if (buf.length < 5) return fail('truncated');
    if (buf[4] !== WIRE_VERSION) return fail('bad_version');
    if (buf.length < 10) return fail('truncated');
    const L = buf[9];
    if (L < 1 || L > MAX_NODE_ID_BYTES) return fail('malformed');
    if (buf.length < 28 + L) return fail('truncated');
    const macAt = 28 + L + buf.readUInt16BE(26 + L);
    if (buf.length < macAt + MAC_LENGTH) return fail('truncated');
    if (buf.length > macAt + MAC_LENGTH) return fail('malformed');

    const mac = createHmac('sha256', this.key).update(buf.subarray(0, macAt)).digest();
    if (!timingSafeEqual(mac, buf.subarray(macAt))) return fail('bad_mac');

    const idBytes = buf.subarray(10, 10 + L);
    if (!isUtf8(idBytes)) return fail('malformed');
    const nodeId = idBytes.toString('utf8');
    const seq = buf.readBigUInt64BE(10 + L);
    const prev = this.highest.get(nodeId);
    if (prev !== undefined && seq <= prev) return fail('replay');
    // Remember it before the clock check: a future-dated datagram must not become
    // acceptable by being replayed once the clock reaches it.
    this.highest.delete(nodeId);
    this.highest.set(nodeId, seq);
    if (this.highest.size > MAX_TRACKED_NODES) this.highest.delete(this.highest.keys().next().value as string);

    const ts = buf.readBigUInt64BE(18 + L);
    if (ts > BigInt(Number.MAX_SAFE_INTEGER)) return fail('stale_timestamp');
    const timestamp = Number(ts);
    if (!(Math.abs(timestamp - this.now()) <= this.maxSkewMs)) return fail('stale_timestamp');

    const type = buf[5];
    const state = STATES[buf[7]];
    if ((type !== 1 && type !== 2) || state === undefined) return fail('malformed');
    const payload = Buffer.from(buf.subarray(28 + L, macAt));
    return { ok: true, message: { version: 1, type, flags: buf[6], nodeId, state, priority: buf[8], seq, timestamp, payload } };
  }
}

/** client is "ip:port"; every field is 1..255 bytes of UTF-8. */
export interface SessionEntry { service: string; client: string; backend: string }

const entrySize = (e: SessionEntry): number => 3 + Buffer.byteLength(e.service) + Buffer.byteLength(e.client) + Buffer.byteLength(e.backend);

/** u16 count, then per entry service, client, backend as u8-length-prefixed UTF-8 (1..255 bytes each). */
export function encodeSessionBatch(entries: SessionEntry[]): Buffer {
  if (entries.length > 0xffff) throw new RangeError('too many entries in one batch');
  const parts: Buffer[] = [Buffer.alloc(2)];
  parts[0].writeUInt16BE(entries.length, 0);
  for (const e of entries) {
    for (const s of [e.service, e.client, e.backend]) {
      const b = utf8(s, 255, 'session entry field');
      parts.push(Buffer.from([b.length]), b);
    }
  }
  const out = Buffer.concat(parts);
  if (out.length > SESSION_BATCH_MAX_BYTES) throw new RangeError(`batch is ${out.length} bytes, over ${SESSION_BATCH_MAX_BYTES}: use splitSessionBatches`);
  return out;
}

/** The entries, or null on any malformation. Never throws. */
export function decodeSessionBatch(buf: Buffer): SessionEntry[] | null {
  if (!Buffer.isBuffer(buf) || buf.length < 2) return null;
  const fields: string[] = [];
  let at = 2;
  for (let i = 3 * buf.readUInt16BE(0); i > 0; i--) {
    const n = at < buf.length ? buf[at] : 0;
    const b = buf.subarray(at + 1, at + 1 + n);
    if (n === 0 || b.length !== n || !isUtf8(b)) return null;
    fields.push(b.toString('utf8'));
    at += 1 + n;
  }
  if (at !== buf.length) return null;
  const out: SessionEntry[] = [];
  for (let i = 0; i < fields.length; i += 3) out.push({ service: fields[i], client: fields[i + 1], backend: fields[i + 2] });
  return out;
}

/** Splits entries, in order, into batches whose encoding is at most maxBytes (each batch non-empty). */
export function splitSessionBatches(entries: SessionEntry[], maxBytes: number = SESSION_BATCH_MAX_BYTES): SessionEntry[][] {
  if (!(maxBytes <= SESSION_BATCH_MAX_BYTES)) throw new RangeError(`maxBytes must be at most ${SESSION_BATCH_MAX_BYTES}`);
  const batches: SessionEntry[][] = [];
  let current: SessionEntry[] = [];
  let size = 2;
  for (const e of entries) {
    const n = entrySize(e);
    if (2 + n > maxBytes) throw new RangeError(`one session entry (${n} bytes) exceeds the batch bound ${maxBytes}`);
    if (size + n > maxBytes) {
      batches.push(current);
      current = [];
      size = 2;
    }
    current.push(e);
    size += n;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
