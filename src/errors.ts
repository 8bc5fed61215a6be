/**
 * One table of error codes. Callers branch on `err.code`; the README documents
 * every code (a test checks that), so a code is never renamed once shipped.
 */
export const ERROR_CODES = {
  ERR_FULCRUM_CONFIG: 'the configuration is invalid; the message names each field path and reason',
  ERR_FULCRUM_CONFIG_READ: 'the configuration file cannot be read or parsed as YAML/JSON',
  ERR_FULCRUM_ARGS: 'command-line arguments are invalid',
  ERR_FULCRUM_LISTEN: 'a service (or the admin API) cannot bind its listen address',
  ERR_FULCRUM_DEMO: 'the demo could not start its local backends or service',
  ERR_FULCRUM_NOT_FOUND: 'the admin API was asked about a service or backend that does not exist (HTTP 404)',
  ERR_FULCRUM_BAD_REQUEST: 'an admin API request is malformed: unknown route, wrong method, bad JSON or value (HTTP 400/404/405)',
  ERR_FULCRUM_UNAUTHORIZED: 'an admin API request lacks the right bearer token (HTTP 401)',
  ERR_FULCRUM_ADMIN: 'the admin API could not be reached or answered with an error (fulcrum status/drain/enable/disable)',
  ERR_FULCRUM_STOPPING: 'a reload was asked while fulcrum is stopping (HTTP 409)',
  ERR_FULCRUM_DISCOVERY: 'a hostname, SRV name or backend file (without optional: true) found no backends at start or reload; nothing was started or changed',
  ERR_FULCRUM_WORKERS: 'a data-plane worker thread could not start or did not answer the control plane in time',
  ERR_FULCRUM_RELOAD_UNAVAILABLE: 'reload was asked of a fulcrum started without a config file (quick mode or the demo)',
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
