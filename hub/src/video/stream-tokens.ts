/**
 * Short-lived stream tokens: what a browser puts in the video WebSocket URL (a browser cannot set
 * headers on a WebSocket). One token names one camera stream and the login session it was issued
 * to, expires in `video.tokenTtlS`, and is signed with a key derived from the JWT secret for this
 * purpose only, so it can never pass as a login token nor a login token as a stream token. The
 * session is checked again when the socket opens: a logout ends the stream tokens with it.
 *
 * A token opens one socket, once (`consume`): the hostile pass opened any number of sockets for 60 s
 * with one token (a token copied from a screen, a proxy log or a shoulder was a free stream). The
 * dashboard asks for a fresh token for every (re)connect. The used ids are kept until the tokens
 * expire; with several hubs behind a load balancer each hub keeps its own (a token then opens at most
 * one socket per hub).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { StreamName } from '@qianliyan/protocols';

export interface StreamClaims {
  sub: string;
  sid: string;
  dev: string;
  st: StreamName;
  exp: number;
  /** The token's own id: what `consume` remembers. */
  jti: string;
}

export type TokenCheck =
  | { ok: true; claims: StreamClaims }
  | { ok: false; reason: 'bad_token' | 'expired_token' };

/** Used token ids remembered at most (each for ≤ `video.tokenTtlS`); beyond, tokens are refused. */
const MAX_USED = 200_000;

export class StreamTokens {
  private readonly key: Buffer;
  /** Used token ids → when the token expires (ms). */
  private readonly used = new Map<string, number>();

  constructor(
    jwtSecret: string,
    private readonly ttlS: number,
    /**
     * What the tokens are for: a viewer's (`stream token`) or a hub relaying a stream from the hub
     * that holds it (`hub relay token`, cluster-source.ts); each kind has its own key, so neither
     * passes as the other.
     */
    purpose = 'stream token',
  ) {
    this.key = createHash('sha256').update(`qianliyan ${purpose}\0${jwtSecret}`).digest();
  }

  issue(claims: Omit<StreamClaims, 'exp' | 'jti'>, now = Date.now()): { token: string; expiresAt: number } {
    const exp = Math.floor(now / 1000) + this.ttlS;
    const jti = randomBytes(12).toString('base64url');
    const body = Buffer.from(JSON.stringify({ ...claims, exp, jti })).toString('base64url');
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
    if (
      typeof claims.exp !== 'number' ||
      typeof claims.dev !== 'string' ||
      typeof claims.sid !== 'string' ||
      typeof claims.jti !== 'string'
    )
      return { ok: false, reason: 'bad_token' };
    if (claims.exp * 1000 <= now) return { ok: false, reason: 'expired_token' };
    return { ok: true, claims };
  }

  /**
   * Marks a verified token used; false when it was used before (or, in a flood of tokens beyond
   * MAX_USED unexpired ones, when it cannot be remembered: refused rather than replayable).
   */
  consume(claims: StreamClaims, now = Date.now()): boolean {
    if (this.used.has(claims.jti)) return false;
    if (this.used.size >= MAX_USED)
      for (const [jti, expiresAt] of this.used) {
        // Insertion order is issue order, near enough: stop at the first still-valid one.
        if (expiresAt > now) break;
        this.used.delete(jti);
      }
    if (this.used.size >= MAX_USED) return false;
    this.used.set(claims.jti, claims.exp * 1000);
    if (this.used.size % 1024 === 0)
      for (const [jti, expiresAt] of this.used) if (expiresAt <= now) this.used.delete(jti);
    return true;
  }

  private sign(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
