/**
 * The command service: the one way the hub asks a gateway or device to do something.
 *
 * submit: role (COMMAND_POLICY in protocols/src/access.ts) → scope → confirmation for harmful actions → the device takes the
 * action (`cmd.<action>` in its capabilities) → params valid against the protocols catalog →
 * gateway online and device reachable (a clear error at once, not a timeout) → a record with an id
 * and a deadline → published on the gateway's `…/cmd` topic (QoS 1). The record ends when a result
 * with its id arrives on `…/cmd/result` (ok / error), or at the deadline (timeout). Results are
 * matched by id only: a result for an id this hub did not send (another hub's, or a forgery) is
 * counted and ignored, as is a second result for a finished command. Every command, refused or
 * finished, enters the audit log with who, what, target, params, result and timings.
 */
import { randomUUID } from 'node:crypto';
import {
  ACTIONS,
  type ActionNameKnown,
  actionCapability,
  COMMAND_POLICY,
  type CommandResult,
  type CommandView,
  deviceKey,
  hasRole,
  isKnownAction,
  type Role,
  topics,
  userMaySee,
} from '@qianliyan/protocols';
import { validateActionParams } from '@qianliyan/protocols/validate';
import type { FastifyBaseLogger } from 'fastify';
import type { MqttClient } from 'mqtt';
import { HubError } from '../errors.ts';
import { checkDiscoveryTargets } from '../security/discovery-targets.ts';
import type { CommandRow, StateDb } from '../stores/state-db.ts';
import type { AuditLog } from './audit-log.ts';
import type { EventBus } from './event-bus.ts';
import type { HubMetrics } from './metrics.ts';
import type { Registry } from './registry.ts';
import type { AuthUser } from './sessions.ts';

/**
 * Checks of an action's (schema-valid) params beyond who may set them (COMMAND_POLICY.paramRoles):
 * the refusal, or undefined when allowed.
 */
const PARAM_CHECKS: Partial<
  Record<ActionNameKnown, (params: Record<string, unknown>) => HubError | undefined>
> = {
  'camera.discover': checkDiscoveryTargets,
};

/** The first param this role may not set (present and non-empty), from COMMAND_POLICY.paramRoles. */
function paramRefusedFor(
  action: ActionNameKnown,
  role: Role,
  params: Record<string, unknown>,
): string | undefined {
  const rules = COMMAND_POLICY[action].paramRoles ?? {};
  return Object.keys(rules).find((name) => {
    const value = params[name];
    const present = value !== undefined && !(Array.isArray(value) && value.length === 0);
    return present && !hasRole(role, rules[name] ?? []);
  });
}

export interface CommandRequest {
  user: AuthUser;
  gateway: string;
  /** Null for a gateway action. */
  device: string | null;
  action: string;
  params?: Record<string, unknown>;
  timeoutMs?: number;
  confirm?: boolean;
  /** Set by the hub's own services for actions the REST route may not send (COMMAND_POLICY.internal). */
  internal?: boolean;
}

/** How long after the deadline the hub still waits for the result to travel back. */
const RESULT_GRACE_MS = 1000;

export function commandView(row: CommandRow): CommandView {
  const result = row.result ?? {};
  return {
    id: row.id,
    username: row.username,
    site: row.site,
    gateway: row.gateway,
    target: row.device ? deviceKey(row.gateway, row.device) : null,
    action: row.action,
    params: row.params,
    status: row.status,
    createdAt: row.createdAt,
    deadline: row.deadline,
    finishedAt: row.finishedAt,
    durationMs: row.finishedAt === null ? null : row.finishedAt - row.createdAt,
    ...('data' in result ? { data: result.data } : {}),
    ...('error' in result ? { error: result.error as { code: string; message: string } } : {}),
  };
}

export class CommandService {
  private readonly pending = new Map<
    string,
    { row: CommandRow; timer: NodeJS.Timeout; waiters: Array<(view: CommandView) => void> }
  >();

  constructor(
    private readonly db: StateDb,
    private readonly registry: Registry,
    private readonly mqtt: MqttClient,
    private readonly bus: EventBus,
    private readonly audit: AuditLog,
    private readonly metrics: HubMetrics,
    private readonly log: FastifyBaseLogger,
  ) {}

  start(): void {
    this.bus.on('commandResult', 'commands', ({ gateway, result, remote }) =>
      this.onResult(gateway, result, remote === true),
    );
    // Commands left open by a previous run: their results may still come; or they time out.
    for (const row of this.db.listOpenCommands()) this.track(row);
  }

  stop(): void {
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
  }

  /** Checks and sends a command; throws a HubError (with its status) when it may not be sent. */
  submit(req: CommandRequest): CommandRow {
    const { user, gateway, device, action } = req;
    const target = device ? deviceKey(gateway, device) : gateway;
    const deny = (err: HubError): never => {
      this.metrics.commands.inc({ outcome: 'refused' });
      this.audit.append({
        actor: user.username,
        action: `command.${action}`.slice(0, 64),
        target,
        outcome: 'denied',
        detail: { code: err.code, reason: err.message },
      });
      throw err;
    };
    if (!isKnownAction(action))
      return deny(new HubError('HUB_ERR_UNSUPPORTED_ACTION', `unknown action ${action}`));
    const spec = ACTIONS[action];
    const policy = COMMAND_POLICY[action];
    if (policy.internal && !req.internal)
      return deny(
        new HubError('HUB_ERR_FORBIDDEN', `${action} is sent by the hub itself (open the video instead)`),
      );
    if (!hasRole(user.role, policy.roles))
      return deny(new HubError('HUB_ERR_FORBIDDEN', `the role ${user.role} may not send ${action}`));
    const gw = this.registry.getGateway(gateway);
    const dev = device ? this.registry.getDevice(deviceKey(gateway, device)) : undefined;
    if (!gw || (device && !dev))
      return deny(new HubError('HUB_ERR_NOT_FOUND', `no ${device ? 'device' : 'gateway'} ${target}`));
    if (!userMaySee(user, gw.site))
      return deny(new HubError('HUB_ERR_FORBIDDEN', `${target} is outside your sites`));
    if ((spec.scope === 'device') !== (device !== null))
      return deny(new HubError('HUB_ERR_UNSUPPORTED_ACTION', `${action} is a ${spec.scope} action`));
    if (dev && !dev.capabilities.includes(actionCapability(action)))
      return deny(new HubError('HUB_ERR_UNSUPPORTED_ACTION', `${target} does not take ${action}`));
    if (policy.confirm && req.confirm !== true)
      return deny(new HubError('HUB_ERR_CONFIRMATION_REQUIRED', `${action} can cause harm: confirm it`));
    const params = validateActionParams(action, req.params ?? {});
    if (!params.ok) return deny(new HubError('HUB_ERR_VALIDATION', params.detail));
    const refusedParam = paramRefusedFor(action, user.role, params.value);
    if (refusedParam)
      return deny(
        new HubError('HUB_ERR_FORBIDDEN', `the role ${user.role} may not set ${refusedParam} of ${action}`),
      );
    const paramRefusal = PARAM_CHECKS[action]?.(params.value);
    if (paramRefusal) return deny(paramRefusal);
    if (!gw.online) return deny(new HubError('HUB_ERR_GATEWAY_OFFLINE', `gateway ${gateway} is offline`));
    if (dev?.unreachable)
      return deny(
        new HubError('HUB_ERR_DEVICE_UNAVAILABLE', `${target} is unreachable: ${dev.unreachable.reason}`),
      );
    if (!this.mqtt.connected)
      return deny(new HubError('HUB_ERR_BUSY', 'the hub is not connected to the broker'));

    const timeoutMs = Math.min(req.timeoutMs ?? spec.timeoutMs, spec.maxTimeoutMs);
    const now = Date.now();
    const row: CommandRow = {
      id: randomUUID(),
      username: user.username,
      site: gw.site,
      gateway,
      device,
      action,
      params: params.value,
      status: 'sent',
      createdAt: now,
      deadline: now + timeoutMs,
      finishedAt: null,
      result: null,
    };
    this.db.insertCommand(row);
    this.track(row);
    const payload = {
      id: row.id,
      ...(device ? { device } : {}),
      action,
      params: params.value,
      deadline: row.deadline,
    };
    this.mqtt.publish(topics.cmd(gw.site, gateway), JSON.stringify(payload), { qos: 1 }, (err) => {
      if (err) this.log.warn({ err, id: row.id }, 'command publish failed; it will time out');
    });
    this.metrics.commands.inc({ outcome: 'sent' });
    return row;
  }

  /** Resolves with the command once it is final, or as it stands after `maxWaitMs`. */
  wait(id: string, maxWaitMs: number): Promise<CommandView> {
    const entry = this.pending.get(id);
    if (!entry) {
      const row = this.db.getCommand(id);
      if (!row) return Promise.reject(new HubError('HUB_ERR_NOT_FOUND', `no command ${id}`));
      return Promise.resolve(commandView(row));
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(commandView(entry.row)), maxWaitMs);
      entry.waiters.push((view) => {
        clearTimeout(timer);
        resolve(view);
      });
    });
  }

  get(id: string): CommandView | undefined {
    const row = this.db.getCommand(id);
    return row ? commandView(row) : undefined;
  }

  private track(row: CommandRow): void {
    const delay = Math.max(0, row.deadline + RESULT_GRACE_MS - Date.now());
    const timer = setTimeout(
      () =>
        this.finish(row.id, 'timeout', {
          error: {
            code: 'HUB_ERR_TIMEOUT',
            message: `no result from gateway ${row.gateway} by the deadline`,
          },
        }),
      delay,
    );
    this.pending.set(row.id, { row, timer, waiters: [] });
  }

  private onResult(gateway: string, result: CommandResult, remote = false): void {
    const entry = this.pending.get(result.id);
    // Relayed from the hub that ingested it: every hub hears it, the one that sent the command takes it.
    if (!entry && remote) return;
    if (!entry) {
      // Another hub's command, a result after our timeout, or a forgery: counted, never applied.
      const known = this.db.getCommand(result.id);
      this.metrics.commandResults.inc({ kind: known ? 'late' : 'unknown' });
      return;
    }
    if (entry.row.gateway !== gateway) {
      this.metrics.commandResults.inc({ kind: 'wrong_gateway' });
      this.log.warn(
        { id: result.id, from: gateway, expected: entry.row.gateway },
        'command result from the wrong gateway',
      );
      return;
    }
    this.metrics.commandResults.inc({ kind: 'matched' });
    if (result.status === 'ok') this.finish(result.id, 'ok', { data: result.data ?? null });
    else this.finish(result.id, 'error', { error: result.error });
  }

  private finish(id: string, status: 'ok' | 'error' | 'timeout', result: Record<string, unknown>): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    clearTimeout(entry.timer);
    const finishedAt = Date.now();
    this.db.finishCommand(id, status, finishedAt, result);
    Object.assign(entry.row, { status, finishedAt, result });
    const view = commandView(entry.row);
    this.metrics.commands.inc({ outcome: status });
    this.audit.append({
      actor: entry.row.username,
      action: `command.${entry.row.action}`,
      target: view.target ?? entry.row.gateway,
      outcome: status === 'ok' ? 'ok' : status === 'timeout' ? 'timeout' : 'error',
      detail: {
        id,
        params: entry.row.params,
        ...result,
        createdAt: entry.row.createdAt,
        durationMs: view.durationMs,
      },
    });
    for (const w of entry.waiters) w(view);
    this.bus.emit('commandFinished', {
      id,
      username: entry.row.username,
      gateway: entry.row.gateway,
      device: entry.row.device,
    });
  }
}

export type { ActionNameKnown };
