import type { Endpoint, RedisCheckConfig } from '../../config/types';
import { exchange } from './exchange';
import type { ProbeResult } from './tcp-probe';

/** Replies larger than this are refused: INFO replication is a few hundred bytes. */
const MAX_REPLY = 64 * 1024;

/**
 * One Redis check: [AUTH], PING, INFO replication, pipelined on one
 * connection, then the role is compared with `role`. Results read like
 * `redis role:master`, `redis role:slave link:down`, `redis auth: WRONGPASS ...`.
 * A replica passes `role: replica` only while its link to the master is up
 * (`master_link_status:up`): a replica cut off from its master serves stale data.
 */
export function redisProbe(address: Endpoint, port: number | undefined, timeoutMs: number, check: RedisCheckConfig): Promise<ProbeResult> {
  const started = performance.now();
  const commands: string[][] = [];
  if (check.password !== undefined) commands.push(check.user === undefined ? ['AUTH', check.password] : ['AUTH', check.user, check.password]);
  commands.push(['PING'], ['INFO', 'replication']);
  let buffer = Buffer.alloc(0);
  return exchange(
    address,
    port,
    timeoutMs,
    (socket) => socket.write(commands.map(encodeCommand).join('')),
    (chunk) => {
      if (chunk === null) return { ok: false, reason: 'redis closed the connection' };
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length > MAX_REPLY) return { ok: false, reason: 'redis reply too large' };
      const replies = parseReplies(buffer);
      if (replies === null) return { ok: false, reason: 'redis: not a RESP reply' };
      if (replies.length < commands.length) return undefined;
      const ms = performance.now() - started;
      return judge(replies, check, ms);
    },
  );
}

function judge(replies: Reply[], check: RedisCheckConfig, ms: number): ProbeResult {
  let i = 0;
  if (check.password !== undefined) {
    const auth = replies[i++];
    if (auth.error) return { ok: false, reason: `redis auth: ${short(auth.text)}` };
  }
  const ping = replies[i++];
  if (ping.error || ping.text !== 'PONG') return { ok: false, reason: `redis ping: ${short(ping.text)}` };
  const info = replies[i];
  if (info.error) return { ok: false, reason: `redis info: ${short(info.text)}` };
  const role = /^role:(\w+)/m.exec(info.text)?.[1] ?? 'unknown';
  const link = /^master_link_status:(\w+)/m.exec(info.text)?.[1];
  const text = role === 'slave' && link !== 'up' ? `redis role:slave link:${link ?? 'unknown'}` : `redis role:${role}`;
  const ok = check.role === 'any' || (check.role === 'master' ? role === 'master' : role === 'slave' && link === 'up');
  return ok ? { ok: true, ms, text } : { ok: false, reason: text };
}

interface Reply {
  error: boolean;
  text: string;
}

/** RESP2 array of bulk strings: safe for any byte in a password. */
function encodeCommand(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/**
 * The complete replies at the start of `buf` (simple string, error, integer,
 * bulk string): all a PING / AUTH / INFO conversation returns. Null when the
 * bytes are not RESP at all (a backend that is not Redis).
 */
function parseReplies(buf: Buffer): Reply[] | null {
  const out: Reply[] = [];
  let at = 0;
  while (at < buf.length) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) break;
    const type = String.fromCharCode(buf[at]);
    const line = buf.toString('utf8', at + 1, eol);
    if (type === '+' || type === ':' || type === '-') {
      out.push({ error: type === '-', text: line });
      at = eol + 2;
    } else if (type === '$') {
      const len = Number(line);
      if (!Number.isInteger(len)) return null;
      if (len < 0) {
        out.push({ error: false, text: '' });
        at = eol + 2;
        continue;
      }
      if (buf.length < eol + 2 + len + 2) break;
      out.push({ error: false, text: buf.toString('utf8', eol + 2, eol + 2 + len) });
      at = eol + 2 + len + 2;
    } else {
      return null;
    }
  }
  return out;
}

const short = (s: string) => (s.length > 60 ? `${s.slice(0, 57)}...` : s);
