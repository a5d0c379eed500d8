// How a request that got no response ended, read from the error alone: shared by the SDK wrappers
// and the framework layers, which see the same errors (the SDKs' own, fetch's, Node's).

// Codes of a connection that never carried a byte of the request (Node's net/dns/tls and undici).
const NEVER_CONNECTED =
  /^(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EAI_NONAME|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL|UND_ERR_CONNECT_TIMEOUT|ERR_TLS_.*|CERT_.*|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_.*|ERR_INVALID_URL)$/;

// fetch refuses these before it opens a connection (undici's "bad port": 9, 25, 6000, …).
const NEVER_SENT_MESSAGES = /^(bad port|invalid url)/i;

// The Stainless SDKs' (`openai`, `@anthropic-ai/sdk`) errors for a request that left without an
// answer, by class name: a framework holds its own copy of the SDK, so `instanceof` cannot tell.
const CONNECTION_CLASSES = new Set(['APIConnectionError', 'APIConnectionTimeoutError']);

// Codes and messages of a connection that dropped after it was made (reset, closed by the other
// side, a body cut short): the request may have reached the provider, which runs it.
const DROPPED = /^(ECONNRESET|EPIPE|ECONNABORTED|ETIMEDOUT|UND_ERR_SOCKET|UND_ERR_.*TIMEOUT)$/;
const DROPPED_MESSAGES = /^(terminated|socket hang up|other side closed|fetch failed)$/i;

/** Whether the error (or one of its causes) says the connection was never made. */
export function neverConnected(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && NEVER_CONNECTED.test(code)) return true;
    const message = (current as { message?: unknown }).message;
    if (typeof message === 'string' && NEVER_SENT_MESSAGES.test(message)) return true;
    const errors = (current as { errors?: unknown }).errors;
    // Happy eyeballs: every address refused.
    if (Array.isArray(errors) && errors.length > 0 && errors.every((e) => neverConnected(e))) {
      return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * Whether the error (or one of its causes) is a connection that was made and then failed before
 * the response came: an SDK connection error or timeout, a reset, a body cut short. Not a
 * connection never made ({@link neverConnected}).
 */
export function connectionDropped(error: unknown): boolean {
  if (neverConnected(error)) return false;
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current !== null && typeof current === 'object'; depth++) {
    if (classNames(current).some((name) => CONNECTION_CLASSES.has(name))) return true;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && DROPPED.test(code)) return true;
    const message = (current as { message?: unknown }).message;
    if (current instanceof TypeError && typeof message === 'string') {
      if (DROPPED_MESSAGES.test(message)) return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** The HTTP status of an error response (`status`, `statusCode`, `response.status`), if any. */
export function httpStatusOf(error: unknown): number | undefined {
  const e = error as
    { status?: unknown; statusCode?: unknown; response?: { status?: unknown } } | null | undefined;
  for (const value of [e?.status, e?.statusCode, e?.response?.status]) {
    if (typeof value === 'number' && Number.isInteger(value) && value >= 300 && value <= 599) {
      return value;
    }
  }
  return undefined;
}

function classNames(value: object): string[] {
  const names: string[] = [];
  for (let proto = Object.getPrototypeOf(value) as object | null; proto;) {
    const ctor = (proto as { constructor?: unknown }).constructor;
    if (typeof ctor === 'function' && ctor.name) names.push(ctor.name);
    proto = Object.getPrototypeOf(proto) as object | null;
  }
  return names;
}
