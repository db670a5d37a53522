/**
 * User administration (admin only). Passwords are never returned. Changing a user's password,
 * role, sites or disabling them ends all their sessions at once; so does deleting them. The last
 * active administrator cannot be demoted, disabled or deleted. Every change is audited.
 */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  ACCESS,
  hasRole,
  Id,
  PublicUser,
  REST_ANSWERS,
  RoleSchema,
  UserView,
  VILLAGE,
} from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import { HubError } from '../errors.ts';
import { hashPassword } from '../security/passwords.ts';
import { errorResponses } from './schemas.ts';

const Username = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' });
const Password = Type.String({ minLength: 10, maxLength: 256 });
const Sites = Type.Array(Id, { maxItems: 100 });

export const userRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);
  app.addHook('onRequest', app.requireRole(ACCESS.administer));
  const cost = app.config.auth.scryptLog2N;

  app.get(
    '/api/users',
    { schema: { response: { 200: REST_ANSWERS['GET /api/users'], ...errorResponses } } },
    async () =>
      app.stateDb
        .listUsers()
        .map(({ username, role, sites, disabled }) => ({ username, role, sites, disabled })),
  );

  app.post(
    '/api/users',
    {
      schema: {
        body: Type.Object(
          {
            username: Username,
            password: Password,
            role: RoleSchema,
            sites: Type.Array(Id, { default: [], maxItems: 100 }),
          },
          { additionalProperties: false },
        ),
        response: { 201: PublicUser, ...errorResponses },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (hasRole(body.role, VILLAGE) && body.sites.length === 0) {
        throw new HubError('HUB_ERR_VALIDATION', 'a village operator needs at least one site');
      }
      const created = app.stateDb.createUser({
        ...body,
        passwordHash: await hashPassword(body.password, cost),
      });
      if (!created) throw new HubError('HUB_ERR_CONFLICT', `user ${body.username} exists`);
      app.audit.append({
        actor: request.user.username,
        action: 'user.create',
        target: body.username,
        outcome: 'ok',
        detail: { role: body.role, sites: body.sites },
      });
      return reply.code(201).send({ username: body.username, role: body.role, sites: body.sites });
    },
  );

  app.patch(
    '/api/users/:username',
    {
      schema: {
        params: Type.Object({ username: Username }),
        body: Type.Object(
          {
            password: Type.Optional(Password),
            role: Type.Optional(RoleSchema),
            sites: Type.Optional(Sites),
            disabled: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: UserView, ...errorResponses },
      },
    },
    async (request) => {
      const { username } = request.params;
      const body = request.body;
      const user = app.stateDb.getUser(username);
      if (!user) throw new HubError('HUB_ERR_NOT_FOUND', `no user ${username}`);
      const next = { ...user, ...body };
      if (hasRole(next.role, VILLAGE) && next.sites.length === 0)
        throw new HubError('HUB_ERR_VALIDATION', 'a village operator needs at least one site');
      const losesAdmin = user.role === 'admin' && !user.disabled && (next.role !== 'admin' || next.disabled);
      if (losesAdmin && app.stateDb.countActiveAdmins() <= 1)
        throw new HubError('HUB_ERR_CONFLICT', 'the last active administrator must stay one');
      app.stateDb.updateUser(username, {
        ...(body.role !== undefined ? { role: body.role } : {}),
        ...(body.sites !== undefined ? { sites: body.sites } : {}),
        ...(body.disabled !== undefined ? { disabled: body.disabled } : {}),
        ...(body.password !== undefined ? { passwordHash: await hashPassword(body.password, cost) } : {}),
      });
      // Whatever changed, the user's open sessions were granted under the old terms.
      app.sessions.revokeUser(username);
      const { password: _pw, ...changes } = body;
      app.audit.append({
        actor: request.user.username,
        action: 'user.update',
        target: username,
        outcome: 'ok',
        detail: { ...changes, ...(body.password !== undefined ? { passwordChanged: true } : {}) },
      });
      const after = app.stateDb.getUser(username) ?? user;
      return { username, role: after.role, sites: after.sites, disabled: after.disabled };
    },
  );

  app.delete(
    '/api/users/:username',
    {
      schema: {
        params: Type.Object({ username: Username }),
        response: { 204: Type.Null(), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { username } = request.params;
      const user = app.stateDb.getUser(username);
      if (!user) throw new HubError('HUB_ERR_NOT_FOUND', `no user ${username}`);
      if (user.role === 'admin' && !user.disabled && app.stateDb.countActiveAdmins() <= 1)
        throw new HubError('HUB_ERR_CONFLICT', 'the last active administrator cannot be deleted');
      app.stateDb.deleteUser(username);
      app.sessions.revokeUser(username);
      app.audit.append({
        actor: request.user.username,
        action: 'user.delete',
        target: username,
        outcome: 'ok',
      });
      return reply.code(204).send(null);
    },
  );
};
