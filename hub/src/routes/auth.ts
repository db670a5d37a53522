/** POST /api/auth/login — username + password → JWT. GET /api/auth/me — who the token belongs to. */
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { HubError } from '../errors.ts';
import { verifyPassword } from '../security/passwords.ts';
import { ErrorBody, PublicUser } from './schemas.ts';

// A fixed hash to verify against when the user does not exist, so a wrong username costs the same
// time as a wrong password and does not reveal which usernames exist.
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

export const authRoutes: FastifyPluginAsync = async (app) => {
  app.post(
    '/api/auth/login',
    {
      schema: {
        body: Type.Object(
          {
            username: Type.String({ minLength: 1, maxLength: 64 }),
            password: Type.String({ minLength: 1, maxLength: 256 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ token: Type.String(), expiresAt: Type.Integer(), user: PublicUser }),
          400: ErrorBody,
          401: ErrorBody,
        },
      },
    },
    async (request) => {
      const { username, password } = request.body as { username: string; password: string };
      const user = app.stateDb.getUser(username);
      const ok = await verifyPassword(password, user?.passwordHash ?? DUMMY_HASH);
      if (!user || !ok) {
        app.metrics.loginFailures.inc();
        request.log.warn({ username }, 'login failed');
        throw new HubError('HUB_ERR_BAD_CREDENTIALS');
      }
      const claims = { username: user.username, role: user.role, sites: user.sites };
      const token = app.jwt.sign(claims);
      const { exp } = app.jwt.decode<{ exp: number }>(token) ?? { exp: 0 };
      return { token, expiresAt: exp * 1000, user: claims };
    },
  );

  app.get(
    '/api/auth/me',
    { onRequest: app.authenticate, schema: { response: { 200: PublicUser, 401: ErrorBody } } },
    async (request) => request.user,
  );
};
