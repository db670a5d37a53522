/**
 * POST /api/auth/login — username + password → a session token. Limited per address and per
 * username; a username is locked after repeated failures; a hash weaker than the configured scrypt
 * cost is upgraded on success. Every attempt enters the audit log.
 * GET /api/auth/me — who the token belongs to. POST /api/auth/logout — ends this session.
 * POST /api/auth/password — changes your password and ends all your sessions.
 */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { HubError } from '../errors.ts';
import { hashPassword, needsRehash, verifyPassword } from '../security/passwords.ts';
import { ErrorBody, errorResponses, PublicUser } from './schemas.ts';

const Credentials = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 64 }),
    password: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);

export const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { auth } = app.config;
  // A hash to verify against when the user does not exist, made with the configured cost, so a wrong
  // username costs the same time as a wrong password and does not reveal which usernames exist.
  const dummyHash = await hashPassword('not-a-password', auth.scryptLog2N);
  // Per username, from anywhere. (A second `rateLimit` hook on the route would be skipped: the plugin
  // runs one limiter per request, so this one only reports and the route answers.)
  const perUser = app.createRateLimit({
    max: auth.loginPerMinutePerUser,
    timeWindow: 60_000,
    keyGenerator: (request) => usernameOf(request),
  });
  const usernameOf = (request: FastifyRequest) =>
    `user:${String((request.body as { username?: unknown } | undefined)?.username ?? '').slice(0, 64)}`;

  app.post(
    '/api/auth/login',
    {
      config: { rateLimit: { max: auth.loginPerMinutePerAddress, timeWindow: 60_000 } },
      // The per-username limit needs the parsed body: it runs as a preHandler.
      preHandler: async (request, reply) => {
        const verdict = await perUser(request);
        if (!verdict.isAllowed && verdict.isExceeded) {
          reply.header('retry-after', verdict.ttlInSeconds);
          throw new HubError(
            'HUB_ERR_RATE_LIMITED',
            `too many attempts for this user; retry in ${verdict.ttlInSeconds} s`,
          );
        }
      },
      schema: {
        body: Credentials,
        response: {
          200: Type.Object({ token: Type.String(), expiresAt: Type.Integer(), user: PublicUser }),
          400: ErrorBody,
          401: ErrorBody,
          429: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body;
      const lockedFor = app.loginGuard.lockedFor(username);
      if (lockedFor > 0) {
        app.metrics.loginFailures.inc();
        reply.header('retry-after', Math.ceil(lockedFor / 1000));
        throw new HubError('HUB_ERR_LOCKED');
      }
      const user = app.stateDb.getUser(username);
      const ok = await verifyPassword(password, user?.passwordHash ?? dummyHash);
      if (!user || !ok || user.disabled) {
        app.metrics.loginFailures.inc();
        const locked = app.loginGuard.failed(username);
        request.log.warn({ username, locked }, 'login failed');
        app.audit.append({
          actor: username,
          action: 'login',
          outcome: 'failed',
          detail: { address: request.ip, ...(locked ? { locked: true } : {}) },
        });
        throw new HubError('HUB_ERR_BAD_CREDENTIALS');
      }
      app.loginGuard.succeeded(username);
      if (needsRehash(user.passwordHash, auth.scryptLog2N))
        app.stateDb.updateUser(username, { passwordHash: await hashPassword(password, auth.scryptLog2N) });
      const session = app.sessions.create(user, request.ip);
      app.audit.append({ actor: username, action: 'login', outcome: 'ok', detail: { address: request.ip } });
      return {
        token: session.token,
        expiresAt: session.expiresAt,
        user: { username: user.username, role: user.role, sites: user.sites },
      };
    },
  );

  app.get(
    '/api/auth/me',
    { onRequest: app.authenticate, schema: { response: { 200: PublicUser, 401: ErrorBody } } },
    async (request) => request.user,
  );

  app.post(
    '/api/auth/logout',
    { onRequest: app.authenticate, schema: { response: { 204: Type.Null(), 401: ErrorBody } } },
    async (request, reply) => {
      app.sessions.revoke(request.user.sid);
      app.audit.append({ actor: request.user.username, action: 'logout', outcome: 'ok' });
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/api/auth/password',
    {
      onRequest: app.authenticate,
      schema: {
        body: Type.Object(
          {
            current: Type.String({ minLength: 1, maxLength: 256 }),
            password: Type.String({ minLength: 10, maxLength: 256 }),
          },
          { additionalProperties: false },
        ),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { current, password } = request.body;
      const user = app.stateDb.getUser(request.user.username);
      if (!user || !(await verifyPassword(current, user.passwordHash)))
        throw new HubError('HUB_ERR_BAD_CREDENTIALS', 'the current password is wrong');
      app.stateDb.updateUser(user.username, { passwordHash: await hashPassword(password, auth.scryptLog2N) });
      app.sessions.revokeUser(user.username);
      app.audit.append({
        actor: user.username,
        action: 'user.password',
        target: user.username,
        outcome: 'ok',
      });
      return reply.code(204).send(null);
    },
  );
};
