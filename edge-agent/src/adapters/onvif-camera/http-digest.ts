/**
 * GET with HTTP Digest (RFC 7616: MD5 or SHA-256, qop=auth or none), as a camera's snapshot URI
 * asks for it; the answer must be a JPEG no larger than MAX_SNAPSHOT_BYTES.
 *
 * Basic is sent only over HTTPS: over plain HTTP it is the password in clear on the village LAN,
 * readable by any host there (and by a camera that names someone else's address). A camera whose
 * plain-HTTP snapshot URI offers only Basic is refused (`SnapshotRefused`, reason
 * `basic_over_http`); the gateway then grabs a frame from the stream instead. Nothing is sent
 * before the camera's challenge (no pre-emptive credentials), and redirects are not followed.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { MAX_SNAPSHOT_BYTES } from '@qianliyan/protocols';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** A snapshot URI the gateway will not use with the camera's credentials, with the reason. */
export class SnapshotRefused extends Error {
  constructor(
    readonly reason: 'basic_over_http' | 'unsupported_auth',
    message: string,
  ) {
    super(message);
  }
}

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

function get(url: URL, headers: Record<string, string>, timeoutMs: number): Promise<Answer> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'GET', headers, timeout: timeoutMs, rejectUnauthorized: false },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_SNAPSHOT_BYTES) req.destroy(new Error('snapshot larger than the limit'));
          else chunks.push(c);
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('snapshot request timed out')));
    req.on('error', reject);
    req.end();
  });
}

export function digestAuthorization(
  challenge: string,
  method: string,
  uri: string,
  username: string,
  password: string,
  /** Requests made with this challenge's nonce so far, this one included (RFC 7616 nc). */
  count = 1,
): string {
  const p = parseParams(challenge.replace(/^Digest\s+/i, ''));
  const algorithm = /^sha-256$/i.test(p.algorithm ?? '') ? 'SHA-256' : 'MD5';
  const h = algorithm === 'SHA-256' ? sha256 : md5;
  const realm = p.realm ?? '';
  const nonce = p.nonce ?? '';
  const qop = (p.qop ?? '')
    .split(',')
    .map((q) => q.trim())
    .includes('auth')
    ? 'auth'
    : undefined;
  const ha1 = h(`${username}:${realm}:${password}`);
  const ha2 = h(`${method}:${uri}`);
  const nc = count.toString(16).padStart(8, '0');
  const cnonce = randomBytes(8).toString('hex');
  const response = qop ? h(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : h(`${ha1}:${nonce}:${ha2}`);
  return [
    `Digest username="${username}"`,
    `realm="${realm}"`,
    `nonce="${nonce}"`,
    `uri="${uri}"`,
    `response="${response}"`,
    `algorithm=${algorithm}`,
    ...(qop ? [`qop=${qop}`, `nc=${nc}`, `cnonce="${cnonce}"`] : []),
    ...(p.opaque ? [`opaque="${p.opaque}"`] : []),
  ].join(', ');
}

export async function fetchWithDigest(
  uri: string,
  username: string,
  password: string,
  timeoutMs: number,
): Promise<Buffer> {
  const url = new URL(uri);
  url.username = '';
  url.password = '';
  let answer = await get(url, {}, timeoutMs);
  if (answer.status === 401) {
    const challenge = [answer.headers['www-authenticate'] ?? ''].flat().join(', ');
    const path = `${url.pathname}${url.search}`;
    let authorization: string;
    if (/digest/i.test(challenge))
      authorization = digestAuthorization(
        challenge.slice(challenge.search(/digest/i)),
        'GET',
        path,
        username,
        password,
      );
    else if (/basic/i.test(challenge) && url.protocol === 'https:')
      authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    else if (/basic/i.test(challenge))
      throw new SnapshotRefused(
        'basic_over_http',
        'the snapshot URI asks for Basic authentication over plain HTTP (the password in clear); refused',
      );
    else throw new SnapshotRefused('unsupported_auth', 'the snapshot URI asks for an unknown authentication');
    answer = await get(url, { Authorization: authorization }, timeoutMs);
  }
  if (answer.status !== 200) throw new Error(`snapshot URI answered HTTP ${answer.status}`);
  if (answer.body[0] !== 0xff || answer.body[1] !== 0xd8)
    throw new Error('snapshot URI did not answer a JPEG');
  return answer.body;
}

/** The `key=value` / `key="value"` pairs of an authentication header. */
export function parseParams(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of s.matchAll(/([a-zA-Z0-9_-]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g))
    out[(m[1] as string).toLowerCase()] = m[2] ?? m[3] ?? '';
  return out;
}
