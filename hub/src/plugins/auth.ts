/**
 * Authentication and roles. Users log in with a password (scrypt hash in the state DB) and get a
 * JWT naming their session; every REST route but login and every socket requires it, and each
 * request checks the session and the user in the database (services/sessions.ts). Which role may do
 * what, and the scope rule, are protocols/src/access.ts: routes name a role set from there
 * (`app.requireRole(ACCESS.administer)`), never a list of their own. Login is limited
 * per address (@fastify/rate-limit); an address is locked out of a username after repeated failures
 * and a username under attack answers more slowly (services/login-guard.ts). On the very first start the admin password comes from ADMIN_PASSWORD or is
 * generated and handed to server.ts to print once.
 */
import fastifyJwt from '@fastify/jwt';
import rateLimit from '@fastify/rate-limit';
import type { Role } from '@qianliyan/protocols';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { HubError } from '../errors.ts';
import { hashPassword, randomSecret } from '../security/passwords.ts';
import { AuditLog } from '../services/audit-log.ts';
import { LoginGuard } from '../services/login-guard.ts';
import { type AuthUser, Sessions, type TokenClaims } from '../services/sessions.ts';

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenClaims;
    user: AuthUser;
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
    /** A hook refusing (403) a user whose role is not in `roles` (a role set of protocols/src/access.ts). */
    requireRole: (roles: readonly Role[]) => (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
    sessions: Sessions;
    audit: AuditLog;
    loginGuard: LoginGuard;
    /** Set on the first start when the hub generated the admin password. */
    bootstrap: { adminPassword?: string };
  }
}

export const authPlugin = fp(
  async (app) => {
    const { auth } = app.config;
    await app.register(fastifyJwt, {
      secret: app.secrets.jwtSecret,
      sign: { expiresIn: auth.tokenTtl },
    });
    // Registered for the routes that ask for it (login), not globally.
    await app.register(rateLimit, {
      global: false,
      errorResponseBuilder: (_request, context) =>
        Object.assign(new HubError('HUB_ERR_RATE_LIMITED', `too many attempts; retry in ${context.after}`), {
          statusCode: 429,
        }),
    });
    const sessions = new Sessions(app.stateDb, app.jwt, app.bus, app.siteTree);
    const audit = new AuditLog(
      app.stateDb.handle,
      `${app.config.dataDir}/audit-head`,
      app.log.child({ module: 'audit' }),
    );

    app.decorate('authenticate', async (request: FastifyRequest) => {
      let claims: TokenClaims;
      try {
        claims = await request.jwtVerify<TokenClaims>();
      } catch {
        throw new HubError('HUB_ERR_UNAUTHORIZED');
      }
      const user = sessions.resolve(claims);
      if (!user) throw new HubError('HUB_ERR_UNAUTHORIZED');
      request.user = user;
    });
    app.decorate('requireRole', (roles: readonly Role[]) => async (request: FastifyRequest) => {
      if (!roles.includes(request.user.role)) throw new HubError('HUB_ERR_FORBIDDEN');
    });
    app.decorate('sessions', sessions);
    app.decorate('audit', audit);
    app.decorate(
      'loginGuard',
      new LoginGuard({
        maxFailures: auth.lockoutFailures,
        lockoutMs: auth.lockoutMs,
        slowAfter: auth.slowdownAfterFailures,
        stepMs: auth.slowdownStepMs,
        maxDelayMs: auth.slowdownMaxMs,
      }),
    );

    const bootstrap: { adminPassword?: string } = {};
    if (app.stateDb.countUsers() === 0) {
      const fromEnv = process.env.ADMIN_PASSWORD;
      const password = fromEnv && fromEnv.length > 0 ? fromEnv : randomSecret();
      app.stateDb.createUser({
        username: 'admin',
        passwordHash: await hashPassword(password, auth.scryptLog2N),
        role: 'admin',
        sites: [],
      });
      if (!fromEnv) bootstrap.adminPassword = password;
      app.log.info({ generated: !fromEnv }, 'created the admin user');
      audit.append({
        actor: 'hub',
        action: 'user.create',
        target: 'admin',
        outcome: 'ok',
        detail: { role: 'admin' },
      });
    }
    app.decorate('bootstrap', bootstrap);
    const prune = setInterval(() => {
      if (app.cluster.scheduler()) app.stateDb.pruneSessions();
    }, 3600_000);
    prune.unref();
    app.addHook('onClose', async () => clearInterval(prune));
  },
  { name: 'auth', dependencies: ['stores', 'ingest'] },
);
