import net from 'node:net';
import type { ProxyProtocolVersion } from '../config/types';
import { ProxyHeaderParser, encodeV1, encodeV2, type ProxyAddress } from './proxy-protocol';
import { send } from './splice';
import type { SessionSocket, TcpSession } from './tcp-session';
import { guarded } from '../timers';

/**
 * PROXY protocol at the two ends of a TCP session: reading the header a
 * trusted front load balancer must send (acceptProxy), refusing one from
 * anyone else, and writing ours first on each backend connection (proxyProtocol).
 */

/**
 * Read only the header, bounded by timeouts.proxyHeader: nothing else is read
 * until the backend is connected. The client address in it becomes the
 * session's for ACLs, limits, source-hash, logs and the header sent onward.
 */
export function readProxyHeader(session: TcpSession): void {
  const client = session.client;
  const parser = new ProxyHeaderParser();
  session.headerRead = true;
  session.timer = setTimeout(onHeaderTimeout, session.settings.proxyHeaderTimeout, session);
  // One closure per trusted connection, only on this path; the splice itself has none.
  const onData = (chunk: Buffer): void => {
    const result = parser.push(chunk);
    if (result.state === 'need-more') return;
    client.removeListener('data', onData);
    client.removeListener('end', onEnd);
    client.pause();
    // The client's FIN may already be read with the header: remember it for the splice.
    client.once('end', onEarlyEnd);
    session.clearTimer();
    if (result.state === 'error') {
      if (session.proxy.log.isLevelEnabled('debug')) session.proxy.log.debug({ client: session.clientAddress, reason: result.reason }, 'bad PROXY header');
      return session.refuse('proxy_header');
    }
    const h = result.header;
    if (h !== null) {
      // LOCAL / UNKNOWN (h === null): the front LB speaks for itself; keep the peer address.
      session.clientAddress = h.sourceAddress;
      session.clientPort = h.sourcePort;
      session.proxiedDest = { address: h.destAddress, port: h.destPort };
    }
    if (result.rest.length > 0) session.pending = result.rest;
    session.admit();
  };
  const onEnd = (): void => session.refuse('proxy_header');
  client.on('data', onData);
  client.once('end', onEnd);
  client.resume();
}

function onEarlyEnd(this: SessionSocket): void {
  this.session.clientEndedEarly = true;
}

const onHeaderTimeout = guarded('proxy header timeout', (session: TcpSession): void => {
  session.timer = null;
  session.refuse('proxy_header');
});

/**
 * acceptProxy is on and this client is not trusted: a PROXY header from it is
 * a spoofing attempt, to be refused before any backend connection exists. So
 * its first bytes are read before the connect (one read, held for the
 * backend), for at most timeouts.proxyHeader. A client that has sent nothing
 * by then (a protocol where the server speaks first) is connected anyway, and
 * its first bytes are checked when they come.
 */
export function awaitFirstBytes(session: TcpSession): void {
  const client = session.client;
  session.timer = setTimeout(onFirstBytesTimeout, session.settings.proxyHeaderTimeout, session);
  client.once('end', onEndBeforeFirstBytes);
  session.attachClientReads();
  client.resume();
}

const onFirstBytesTimeout = guarded('first bytes timeout', (session: TcpSession): void => {
  session.timer = null;
  session.client.pause();
  session.beginConnect();
});

/**
 * The client's FIN before the backend is connected (a paused Readable still
 * emits 'end' once its buffer is empty): whatever was held is data, not a
 * header; connect if that has not begun, and connected() passes the FIN on.
 */
function onEndBeforeFirstBytes(this: SessionSocket): void {
  const s = this.session;
  if (s.isOpen) return; // onClientEnd's turn
  s.clientEndedEarly = true;
  s.checkFirstChunk = false;
  if (s.upstream !== null) return; // already connecting
  s.clearTimer();
  s.beginConnect();
}

/**
 * An untrusted client's first bytes, from either read path. They are held (at
 * most 12, the v2 signature) until they either match a signature or cannot, so
 * a header split across segments is caught and "P" or an empty line from a
 * normal client is not. `owned`: whether `buffer` may be kept (a 'data' chunk)
 * or is the shared read buffer.
 */
export function checkFirstBytes(s: TcpSession, client: SessionSocket, buffer: Buffer, n: number, owned: boolean): void {
  const held = s.pending;
  const head = held === null ? buffer.subarray(0, n) : Buffer.concat([held, buffer.subarray(0, n)]);
  const headOwned = owned || held !== null;
  const verdict = proxySignature(head);
  if (verdict === 'yes') return s.refuse('proxy_untrusted');
  s.checkFirstChunk = verdict === 'maybe';
  if (verdict === 'maybe' || s.upstream === null) {
    // Held: an undecided prefix, or (before any connect) the bytes the backend gets first.
    s.pending = headOwned ? head : Buffer.from(head);
    if (verdict === 'no') {
      client.pause(); // nothing more is read until the backend is connected
      s.clearTimer();
      s.beginConnect();
    }
    return;
  }
  s.pending = null;
  if (!send(s.upstream, head, 0, head.length, headOwned)) client.pause();
}

const V1_PREFIX = Buffer.from('PROXY ');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const SIGNATURES = [V1_PREFIX, V2_SIGNATURE];

/** 'yes' when head starts with a PROXY signature, 'maybe' while it is a shorter prefix of one, else 'no'. */
function proxySignature(head: Buffer): 'yes' | 'maybe' | 'no' {
  let maybe = false;
  for (const sig of SIGNATURES) {
    const n = Math.min(head.length, sig.length);
    if (sig.compare(head, 0, n, 0, n) !== 0) continue;
    if (n === sig.length) return 'yes';
    maybe = true;
  }
  return maybe ? 'maybe' : 'no';
}

/** Our header goes first on the backend connection, before any client byte. */
export function writeProxyHeader(session: TcpSession, upstream: SessionSocket, version: ProxyProtocolVersion): void {
  const client = session.client;
  const dest = session.proxiedDest;
  const destAddress = dest?.address ?? client.localAddress ?? '';
  const source = session.clientAddress;
  const address: ProxyAddress = {
    family: net.isIPv6(source) || net.isIPv6(destAddress) ? 6 : 4,
    protocol: 'tcp',
    sourceAddress: source,
    sourcePort: session.clientPort,
    destAddress,
    destPort: dest?.port ?? client.localPort ?? 0,
  };
  upstream.write(version === 'v1' ? encodeV1(address) : encodeV2(address));
}
