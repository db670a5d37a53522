/**
 * Server side of HTTP/RTSP Digest authentication (RFC 7616 with MD5 and qop=auth, RFC 2069 without
 * qop, as cameras speak it). Nonces are issued per challenge and expire, so a captured
 * Authorization header cannot be replayed for long.
 */
import { createHash, randomBytes } from 'node:crypto';
import { parseParams } from '../http-digest.ts';

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

export interface Credentials {
  username: string;
  password: string;
}

export class DigestAuth {
  private readonly nonces = new Map<string, number>();

  constructor(
    private readonly credentials: Credentials,
    readonly realm = 'Qianliyan camera',
    private readonly nonceTtlMs = 60_000,
  ) {}

  challenge(): string {
    const now = Date.now();
    for (const [nonce, issued] of this.nonces) if (now - issued > this.nonceTtlMs) this.nonces.delete(nonce);
    if (this.nonces.size > 10_000) this.nonces.clear();
    const nonce = randomBytes(16).toString('hex');
    this.nonces.set(nonce, now);
    return `Digest realm="${this.realm}", qop="auth", nonce="${nonce}", algorithm=MD5`;
  }

  /** Whether the `Authorization` header answers one of our challenges for this method and URI. */
  verify(header: string | undefined, method: string): boolean {
    if (!header?.startsWith('Digest ')) return false;
    const params = parseParams(header.slice(7));
    const { username, nonce, uri, response, qop, nc, cnonce } = params;
    if (!username || !nonce || !uri || !response) return false;
    const issued = this.nonces.get(nonce);
    if (issued === undefined || Date.now() - issued > this.nonceTtlMs) return false;
    if (username !== this.credentials.username) return false;
    const ha1 = md5(`${username}:${this.realm}:${this.credentials.password}`);
    const ha2 = md5(`${method}:${uri}`);
    const expected = qop
      ? md5(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`)
      : md5(`${ha1}:${nonce}:${ha2}`);
    return expected === response.toLowerCase();
  }
}
