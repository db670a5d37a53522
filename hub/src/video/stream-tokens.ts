/**
 * Short-lived stream tokens: what a browser puts in the video WebSocket URL (a browser cannot set
 * headers on a WebSocket). One token names one camera stream and the login session it was issued
 * to, expires in `video.tokenTtlS`, and is signed with a key derived from the JWT secret for this
 * purpose only, so it can never pass as a login token nor a login token as a stream token. The
 * session is checked again when the socket opens: a logout ends the stream tokens with it.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { StreamName } from '@qianliyan/protocols';

export interface StreamClaims {
  sub: string;
  sid: string;
  dev: string;
  st: StreamName;
  exp: number;
}

export type TokenCheck =
  | { ok: true; claims: StreamClaims }
  | { ok: false; reason: 'bad_token' | 'expired_token' };

export class StreamTokens {
  private readonly key: Buffer;

  constructor(
    jwtSecret: string,
    private readonly ttlS: number,
  ) {
    this.key = createHash('sha256').update(`qianliyan stream token\0${jwtSecret}`).digest();
  }

  issue(claims: Omit<StreamClaims, 'exp'>, now = Date.now()): { token: string; expiresAt: number } {
    const exp = Math.floor(now / 1000) + this.ttlS;
    const body = Buffer.from(JSON.stringify({ ...claims, exp })).toString('base64url');
    return { token: `${body}.${this.sign(body)}`, expiresAt: exp * 1000 };
  }

  verify(token: string, now = Date.now()): TokenCheck {
    if (token.length > 1024) return { ok: false, reason: 'bad_token' };
    const [body, signature, extra] = token.split('.');
    if (!body || !signature || extra !== undefined) return { ok: false, reason: 'bad_token' };
    const expected = Buffer.from(this.sign(body));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given))
      return { ok: false, reason: 'bad_token' };
    let claims: StreamClaims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as StreamClaims;
    } catch {
      return { ok: false, reason: 'bad_token' };
    }
    if (typeof claims.exp !== 'number' || typeof claims.dev !== 'string' || typeof claims.sid !== 'string')
      return { ok: false, reason: 'bad_token' };
    if (claims.exp * 1000 <= now) return { ok: false, reason: 'expired_token' };
    return { ok: true, claims };
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
