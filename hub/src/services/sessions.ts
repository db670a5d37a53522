/**
 * Login sessions. A login creates a session row and a JWT naming it (`sid`); every request and every
 * socket checks the session and the user in the state DB, so a session ends at once when it is
 * revoked (logout, password change, user disabled or deleted, role or scope changed) and a token
 * whose user no longer exists is refused (401), whatever the token says. The user's role and sites
 * always come from the database, never from the token; the sites are the user's scope nodes with
 * their subtrees in the site hierarchy, as it is now.
 */
import { randomUUID } from 'node:crypto';
import type { JWT } from '@fastify/jwt';
import type { StateDb, UserRow } from '../stores/state-db.ts';
import type { EventBus } from './event-bus.ts';
import type { SiteTree } from './site-tree.ts';

export interface AuthUser {
  username: string;
  role: UserRow['role'];
  sites: string[];
  /** The session this request belongs to. */
  sid: string;
}

/** What the JWT carries: the session and its user, nothing that grants anything by itself. */
export interface TokenClaims {
  sub: string;
  sid: string;
}

export class Sessions {
  constructor(
    private readonly db: StateDb,
    private readonly jwt: JWT,
    private readonly bus: EventBus,
    /** A user's scope names nodes of the site tree; it covers their subtrees. */
    private readonly tree?: SiteTree,
  ) {}

  create(user: UserRow, address: string | null): { token: string; expiresAt: number; sid: string } {
    const sid = randomUUID();
    const token = this.jwt.sign({ sub: user.username, sid } satisfies TokenClaims);
    const { exp } = this.jwt.decode<{ exp: number }>(token) ?? { exp: 0 };
    const expiresAt = exp * 1000;
    this.db.createSession({ id: sid, username: user.username, createdAt: Date.now(), expiresAt, address });
    return { token, expiresAt, sid };
  }

  /** The live user behind a verified token, or undefined when the session or the user is gone. */
  resolve(claims: Partial<TokenClaims>, now = Date.now()): AuthUser | undefined {
    if (typeof claims.sid !== 'string' || typeof claims.sub !== 'string') return undefined;
    const session = this.db.getSession(claims.sid);
    if (!session || session.revokedAt !== null || session.expiresAt <= now || session.username !== claims.sub)
      return undefined;
    const user = this.db.getUser(session.username);
    if (!user || user.disabled) return undefined;
    const sites = this.tree && user.sites.length > 0 ? this.tree.expand(user.sites) : user.sites;
    return { username: user.username, role: user.role, sites, sid: session.id };
  }

  revoke(sid: string): void {
    if (this.db.revokeSession(sid)) this.bus.emit('sessionsRevoked', { sid });
  }

  /** Ends every session of a user (password changed, disabled, deleted, role or scope changed). */
  revokeUser(username: string): void {
    this.db.revokeUserSessions(username);
    this.bus.emit('sessionsRevoked', { username });
  }
}
