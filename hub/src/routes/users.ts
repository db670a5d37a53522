/** GET/POST /api/users — user administration (admin only). Passwords are never returned. */
import { Id } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsync } from 'fastify';
import { HubError } from '../errors.ts';
import { hashPassword } from '../security/passwords.ts';
import type { Role } from '../stores/state-db.ts';
import { errorResponses, PublicUser, Role as RoleSchema } from './schemas.ts';

export const userRoutes: FastifyPluginAsync = async (app) => {
  app.addHook('onRequest', app.authenticate);
  app.addHook('onRequest', app.requireRole('admin'));

  app.get(
    '/api/users',
    { schema: { response: { 200: Type.Array(PublicUser), ...errorResponses } } },
    async () => app.stateDb.listUsers().map(({ username, role, sites }) => ({ username, role, sites })),
  );

  app.post(
    '/api/users',
    {
      schema: {
        body: Type.Object(
          {
            username: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' }),
            password: Type.String({ minLength: 10, maxLength: 256 }),
            role: RoleSchema,
            sites: Type.Array(Id, {
              default: [],
              maxItems: 100,
            }),
          },
          { additionalProperties: false },
        ),
        response: { 201: PublicUser, ...errorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body as { username: string; password: string; role: Role; sites: string[] };
      if (body.role === 'village_operator' && body.sites.length === 0) {
        throw new HubError('HUB_ERR_VALIDATION', 'a village operator needs at least one site');
      }
      const created = app.stateDb.createUser({
        ...body,
        passwordHash: await hashPassword(body.password, app.config.auth.scryptLog2N),
      });
      if (!created) throw new HubError('HUB_ERR_CONFLICT', `user ${body.username} exists`);
      request.log.info({ user: body.username, role: body.role, by: request.user.username }, 'user created');
      return reply.code(201).send({ username: body.username, role: body.role, sites: body.sites });
    },
  );
};
