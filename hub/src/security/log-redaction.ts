/**
 * What the hub's log may say about a request. A browser cannot set headers on a WebSocket, so stream
 * and talk tokens ride in the query string, and a gateway's talk, push and snapshot sessions are path
 * segments: each of them is a credential for as long as it lives. Fastify logs every request's URL,
 * so these serializers replace those parts before a line is written (a log shipped to a SIEM or read
 * over a shoulder must not let anyone open a stream or play on a loudspeaker).
 */
import type { FastifyRequest } from 'fastify';

/** Query-string parameters that carry a credential. */
const SECRET_PARAMS = new Set(['token', 'access_token', 'ticket', 'session', 'sid']);
/** Path prefixes whose next segment names a session a gateway may dial (a capability URL). */
const SESSION_PATHS = ['/api/edge/talk/', '/api/edge/streams/', '/api/edge/snapshots/'];
const REDACTED = '[redacted]';

/** The URL as the log may show it: credentials in the query and session path segments replaced. */
export function redactUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  for (const prefix of SESSION_PATHS) {
    if (path.startsWith(prefix)) {
      const rest = path.slice(prefix.length);
      const slash = rest.indexOf('/');
      path = `${prefix}${REDACTED}${slash === -1 ? '' : rest.slice(slash)}`;
      break;
    }
  }
  if (q === -1) return path;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        /* a malformed name is compared as sent */
      }
      return SECRET_PARAMS.has(decoded.toLowerCase()) ? `${name}=${REDACTED}` : pair;
    })
    .join('&');
  return `${path}?${query}`;
}

/** Fastify's request serializer (the same fields as its default) with the URL redacted. */
export function requestSerializer(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: redactUrl(req.url),
    version: req.headers?.['accept-version'],
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket ? req.socket.remotePort : undefined,
  };
}

/**
 * pino `redact` paths: headers that carry a credential (a session token in the Authorization header
 * or, for the live-talk socket, in Sec-WebSocket-Protocol), passwords, and fields named after a
 * token or a session wherever a module logs one.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["sec-websocket-protocol"]',
  'req.headers.cookie',
  'password',
  'body.password',
  'token',
  'session',
  'sid',
  'upload',
];
