/**
 * One table of error codes. Callers branch on `err.code`; the README documents
 * every code (a test checks that), so a code is never renamed once shipped.
 */
export const ERROR_CODES = {
  ERR_FULCRUM_CONFIG: 'the configuration is invalid; the message names each field path and reason',
  ERR_FULCRUM_CONFIG_READ: 'the configuration file cannot be read or parsed as YAML/JSON',
  ERR_FULCRUM_ARGS: 'command-line arguments are invalid',
  ERR_FULCRUM_LISTEN: 'a service (or the admin API) cannot bind its listen address',
  ERR_FULCRUM_NO_BACKEND: 'no usable backend was left to try for a client connection',
  ERR_FULCRUM_CONNECT_TIMEOUT: 'a backend did not complete the TCP handshake within timeouts.connect',
  ERR_FULCRUM_CONNECT_FAILED: 'a backend refused or reset the connection attempt',
  ERR_FULCRUM_IDLE_TIMEOUT: 'a session saw no bytes either way for timeouts.idle',
  ERR_FULCRUM_SHUTDOWN: 'a session was closed because the shutdown drain deadline passed',
  ERR_FULCRUM_DEMO: 'the demo could not start its local backends or service',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class FulcrumError extends Error {
  readonly code: ErrorCode;
  /** For ERR_FULCRUM_CONFIG: one line per problem, "path: reason". */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, details: readonly string[] = [], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FulcrumError';
    this.code = code;
    this.details = details;
  }
}

export function isFulcrumError(err: unknown, code?: ErrorCode): err is FulcrumError {
  return err instanceof FulcrumError && (code === undefined || err.code === code);
}
