/**
 * GET with HTTP Digest (RFC 7616, MD5, qop=auth) or Basic authentication, as a camera's snapshot
 * URI asks for it; the answer must be a JPEG no larger than MAX_SNAPSHOT_BYTES.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { MAX_SNAPSHOT_BYTES } from '@qianliyan/protocols';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

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
): string {
  const p = parseParams(challenge.replace(/^Digest\s+/i, ''));
  const realm = p.realm ?? '';
  const nonce = p.nonce ?? '';
  const qop = (p.qop ?? '')
    .split(',')
    .map((q) => q.trim())
    .includes('auth')
    ? 'auth'
    : undefined;
  const ha1 = md5(`${username}:${realm}:${password}`);
  const ha2 = md5(`${method}:${uri}`);
  const nc = '00000001';
  const cnonce = randomBytes(8).toString('hex');
  const response = qop ? md5(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : md5(`${ha1}:${nonce}:${ha2}`);
  return [
    `Digest username="${username}"`,
    `realm="${realm}"`,
    `nonce="${nonce}"`,
    `uri="${uri}"`,
    `response="${response}"`,
    'algorithm=MD5',
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
  let answer = await get(url, {}, timeoutMs);
  if (answer.status === 401) {
    const challenge = [answer.headers['www-authenticate'] ?? ''].flat().join(', ');
    const path = `${url.pathname}${url.search}`;
    const authorization = /digest/i.test(challenge)
      ? digestAuthorization(challenge.slice(challenge.search(/digest/i)), 'GET', path, username, password)
      : `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
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
