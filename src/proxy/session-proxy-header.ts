import net from 'node:net';
import type { ProxyProtocolVersion } from '../config/types';
import { ProxyHeaderParser, encodeV1, encodeV2, type ProxyAddress } from './proxy-protocol';
import type { SessionSocket, TcpSession } from './tcp-session';
import { guarded } from '../timers';

/**
 * PROXY protocol at the two ends of a TCP session: reading the header a
 * trusted front load balancer must send (acceptProxy), and writing ours first
 * on each backend connection (proxyProtocol).
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
  session.timer = setTimeout(onHeaderTimeout, session.proxy.proxyHeaderTimeout, session);
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
