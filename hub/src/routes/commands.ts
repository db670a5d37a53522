/**
 * Commands to devices and gateways.
 * POST /api/devices/:key/commands `{action, params?, timeoutMs?, confirm?, wait?}` and
 * POST /api/gateways/:id/commands (gateway actions such as `ping`): checked and sent by the command
 * service; answered with the command once its result is in (200: ok, error or timeout), or at once
 * with `wait: false` (202, status `sent`; the result follows on the live channel as a `command`
 * event and at GET /api/commands/:id).
 * GET /api/commands/:id, GET /api/devices/:key/commands — a command, a device's recent commands.
 */

import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ActionName, ID_PATTERN, Id, parseDeviceKey, REST_ANSWERS, userMaySee } from '@qianliyan/protocols';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HubError } from '../errors.ts';
import { commandView } from '../services/commands.ts';
import { errorResponses } from './schemas.ts';

const CommandBody = Type.Object(
  {
    action: ActionName,
    params: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), { maxProperties: 64 })),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
    confirm: Type.Optional(Type.Boolean()),
    wait: Type.Optional(Type.Boolean({ default: true })),
  },
  { additionalProperties: false },
);
type CommandBody = {
  action: string;
  params?: Record<string, unknown>;
  timeoutMs?: number;
  confirm?: boolean;
  wait?: boolean;
};
const KeyParams = Type.Object({ key: Type.String({ pattern: `^${ID_PATTERN}\\.${ID_PATTERN}$` }) });
/** The device and the gateway route answer alike: REST_ANSWERS names the same CommandView for both. */
const responses = {
  200: REST_ANSWERS['POST /api/devices/:key/commands'],
  202: REST_ANSWERS['POST /api/devices/:key/commands'],
  ...errorResponses,
  428: errorResponses[400],
  503: errorResponses[400],
};

export const commandRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);

  const send = async (
    request: FastifyRequest,
    reply: FastifyReply,
    gateway: string,
    device: string | null,
  ) => {
    // One helper serves the device and the gateway route: the body schema is the same.
    const body = request.body as CommandBody;
    const row = app.commands.submit({
      user: request.user,
      gateway,
      device,
      action: body.action,
      ...(body.params ? { params: body.params } : {}),
      ...(body.timeoutMs !== undefined ? { timeoutMs: body.timeoutMs } : {}),
      ...(body.confirm !== undefined ? { confirm: body.confirm } : {}),
    });
    if (body.wait === false) return reply.code(202).send(commandView(row));
    const view = await app.commands.wait(row.id, row.deadline - Date.now() + 2000);
    return reply.code(view.status === 'sent' ? 202 : 200).send(view);
  };

  app.post(
    '/api/devices/:key/commands',
    { schema: { params: KeyParams, body: CommandBody, response: responses } },
    async (request, reply) => {
      // The params schema already holds the key to the device-key pattern.
      const { gateway, device } = parseDeviceKey(request.params.key) as { gateway: string; device: string };
      return send(request, reply, gateway, device);
    },
  );

  app.post(
    '/api/gateways/:id/commands',
    { schema: { params: Type.Object({ id: Id }), body: CommandBody, response: responses } },
    async (request, reply) => send(request, reply, request.params.id, null),
  );

  app.get(
    '/api/commands/:id',
    {
      schema: {
        params: Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' }) }),
        response: { 200: REST_ANSWERS['GET /api/commands/:id'], ...errorResponses },
      },
    },
    async (request) => {
      const view = app.commands.get(request.params.id);
      if (!view || !userMaySee(request.user, view.site))
        throw new HubError('HUB_ERR_NOT_FOUND', 'no such command');
      return view;
    },
  );

  app.get(
    '/api/devices/:key/commands',
    {
      schema: {
        params: KeyParams,
        querystring: Type.Object(
          { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })) },
          { additionalProperties: false },
        ),
        response: { 200: REST_ANSWERS['GET /api/devices/:key/commands'], ...errorResponses },
      },
    },
    async (request) => {
      const { key } = request.params;
      const device = app.registry.getDevice(key);
      if (!device || !userMaySee(request.user, device.site))
        throw new HubError('HUB_ERR_NOT_FOUND', `no device ${key}`);
      const limit = request.query.limit ?? 50;
      return app.stateDb
        .listCommands({ gateway: device.gateway, device: device.device, limit })
        .map(commandView);
    },
  );
};
