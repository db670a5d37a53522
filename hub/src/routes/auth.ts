/**
 * POST /api/auth/login — username + password → a session token. Limited per address; an address is
 * locked out of a username after repeated failures from it, and a username under attack from
 * anywhere answers more slowly (services/login-guard.ts) — never refusing the real user elsewhere;
 * a hash weaker than the configured scrypt cost is upgraded on success. Every attempt enters the
 * audit log.
 * GET /api/auth/me — who the token belongs to. POST /api/auth/logout — ends this session.
 * POST /api/auth/password — changes your password and ends all your sessions.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorBody, REST_ANSWERS } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { HubError } from '../errors.ts';
import { hashPassword, needsRehash, verifyPassword } from '../security/passwords.ts';
import { errorResponses } from './schemas.ts';

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
  app.post(
    '/api/auth/login',
    {
      config: { rateLimit: { max: auth.loginPerMinutePerAddress, timeWindow: 60_000 } },
      schema: {
        body: Credentials,
        response: {
          200: REST_ANSWERS['POST /api/auth/login'],
          400: ErrorBody,
          401: ErrorBody,
          429: ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body;
      const address = request.ip;
      const lockedFor = app.loginGuard.lockedFor(address, username);
      if (lockedFor > 0) {
        app.metrics.loginFailures.inc();
        app.metrics.loginThrottled.inc({ reason: 'locked' });
        reply.header('retry-after', Math.ceil(lockedFor / 1000));
        throw new HubError('HUB_ERR_LOCKED');
      }
      // A username guessed at from many addresses answers more slowly, for everyone: a delay, so the
      // real user still gets in, while each guess costs the guesser seconds.
      const delay = app.loginGuard.delayFor(username);
      if (delay > 0) {
        app.metrics.loginThrottled.inc({ reason: 'delayed' });
        await sleep(delay);
      }
      const user = app.stateDb.getUser(username);
      const ok = await verifyPassword(password, user?.passwordHash ?? dummyHash);
      if (!user || !ok || user.disabled) {
        app.metrics.loginFailures.inc();
        const locked = app.loginGuard.failed(address, username);
        request.log.warn({ username, locked, delayedMs: delay }, 'login failed');
        app.audit.append({
          actor: username,
          action: 'login',
          outcome: 'failed',
          detail: { address: request.ip, ...(locked ? { locked: true } : {}) },
        });
        throw new HubError('HUB_ERR_BAD_CREDENTIALS');
      }
      app.loginGuard.succeeded(address, username);
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
    {
      onRequest: app.authenticate,
      schema: { response: { 200: REST_ANSWERS['GET /api/auth/me'], 401: ErrorBody } },
    },
    async (request) => request.user,
  );

  app.post(
    '/api/auth/logout',
    {
      onRequest: app.authenticate,
      schema: { response: { 204: REST_ANSWERS['POST /api/auth/logout'], 401: ErrorBody } },
    },
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
