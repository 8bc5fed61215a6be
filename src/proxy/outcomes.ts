/**
 * Every kind of outcome of the data plane, each one declared list (the
 * metrics' `reason` labels, /status keys and README "Metrics" use them): a
 * const array and the type derived from it. Add a reason here and nowhere else.
 */

/** The manager closes a backend's sessions (operator disable, down with onBackendDown: close/drop, drain deadline). */
export const BACKEND_CLOSE_REASONS = ['backend_down', 'backend_disabled', 'drain_timeout'] as const;
export type BackendCloseReason = (typeof BACKEND_CLOSE_REASONS)[number];

/** Why a TCP client was turned away: the `reason` label of fulcrum_rejected_total. */
export const REJECT_REASONS = [
  'no_backend',
  'backends_full',
  'max_connections',
  'connect_failed',
  'acl',
  'rate_limit',
  'source_max_connections',
  'source_table_full',
  'proxy_header',
  'proxy_untrusted',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
export type RejectCounts = Record<RejectReason, number>;

/** How a TCP session ended (the access log's `result`, with the reject reason for refused ones). */
export const TCP_CLOSE_REASONS = [
  'done',
  'client_error',
  'backend_error',
  'idle_timeout',
  'half_close_timeout',
  'max_lifetime',
  'rejected',
  'aborted',
  ...BACKEND_CLOSE_REASONS,
] as const;
export type TcpCloseReason = (typeof TCP_CLOSE_REASONS)[number];

/** How a UDP session ended (the access log's `result`). */
export const UDP_CLOSE_REASONS = ['done', 'responses', 'idle_timeout', 'no_backend', 'connect_failed', 'aborted', 'stopped', ...BACKEND_CLOSE_REASONS] as const;
export type UdpCloseReason = (typeof UDP_CLOSE_REASONS)[number];

/** Why a datagram was dropped: the `reason` label of fulcrum_udp_dropped_total. */
export const UDP_DROP_REASONS = [
  'no_backend',
  'max_sessions',
  'max_sessions_per_source',
  /** Larger than maxDatagram, either direction. */
  'oversize',
  'send_error',
  /** A reply beyond udp.maxReplyRatio × the session's request bytes. */
  'reply_ratio',
  /** A reply beyond udp.amplificationLimit × the request bytes of a client that has sent one datagram only. */
  'amplification',
  /** The pre-connect queue (MAX_PENDING) or a socket's libuv send queue (maxSendQueue) is full. */
  'queue_full',
  /** The client is refused by the service's allow/deny lists. */
  'acl',
  /** Source port < 1024 (reflection guard) and udp.allowPrivilegedSources is off. */
  'privileged_source',
] as const;
export type UdpDropReason = (typeof UDP_DROP_REASONS)[number];
export type UdpDropCounts = Record<UdpDropReason, number>;

/** A count per reason, every one at 0. */
export function zeroCounts<R extends string>(reasons: readonly R[]): Record<R, number> {
  return Object.fromEntries(reasons.map((r) => [r, 0])) as Record<R, number>;
}
