/**
 * Linkage (联动): "when an event of type X happens at a device in zone Z → these actions", and the
 * one-click "link" on an incident, which plans the same by hand.
 *
 * The flow goes through the event bus: a new alarm (`alarmChanged`) matching a rule → either
 * `incidentRequested` (the incidents plugin creates it and announces `incidentCreated` with the rule)
 * → the plan runs with the incident's id; or, for a rule without an incident, the plan runs at once.
 * A plan finds the nearest cameras (those whose field of view covers the spot, or that can turn,
 * before those that cannot), loudspeakers and drone; turns PTZ cameras to the rule's preset through
 * the command path; starts the warning broadcast (`auto`) or proposes it; proposes the drone; and
 * notifies the village's operators. It is announced as `linkageExecuted` (dashboards open the
 * cameras on their video wall and show the proposals).
 */
import {
  type AlarmView,
  type DeviceView,
  type LinkagePlan,
  type LinkageRule,
  type Position,
  parseDeviceKey,
  userMaySee,
} from '@qianliyan/protocols';
import type { FastifyBaseLogger } from 'fastify';
import { HubError } from '../errors.ts';
import { LINKAGE_ACTOR } from './actors.ts';
import type { BroadcastService } from './broadcasts.ts';
import type { CommandService } from './commands.ts';
import type { EventBus } from './event-bus.ts';
import type { Registry } from './registry.ts';
import type { AuthUser } from './sessions.ts';
import type { SiteTree } from './site-tree.ts';

/** What the "link" button does when no rule says otherwise. */
export const MANUAL_LINK: LinkageRule['actions'] = {
  cameras: { count: 3, maxDistanceM: 1500 },
  broadcast: {
    mode: 'propose',
    text: '请注意，附近发生紧急情况，请远离并听从工作人员指挥。',
    count: 3,
    maxDistanceM: 2000,
  },
  drone: { maxDistanceM: 10_000 },
  notify: true,
};

export function distanceM(a: Position, b: Position): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.sqrt(h));
}

function bearing(from: Position, to: Position): number {
  const rad = Math.PI / 180;
  const y = Math.sin((to.lon - from.lon) * rad) * Math.cos(to.lat * rad);
  const x =
    Math.cos(from.lat * rad) * Math.sin(to.lat * rad) -
    Math.sin(from.lat * rad) * Math.cos(to.lat * rad) * Math.cos((to.lon - from.lon) * rad);
  return (Math.atan2(y, x) / rad + 360) % 360;
}

/** Whether a camera's current field of view covers a spot (heading + pan, width fov / zoom). */
export function cameraSees(camera: DeviceView, spot: Position): boolean {
  if (camera.heading === undefined || camera.fov === undefined) return false;
  const pan = typeof camera.values.pan === 'number' ? camera.values.pan : 0;
  const zoom = typeof camera.values.zoom === 'number' && camera.values.zoom >= 1 ? camera.values.zoom : 1;
  const centre = (camera.heading + pan + 360) % 360;
  const off = Math.abs(((bearing(camera.position, spot) - centre + 540) % 360) - 180);
  return off <= camera.fov / zoom / 2;
}

export class LinkageService {
  private rules: LinkageRule[];

  constructor(
    private readonly registry: Registry,
    private readonly commands: CommandService,
    private readonly broadcasts: BroadcastService,
    private readonly tree: SiteTree,
    private readonly bus: EventBus,
    private readonly log: FastifyBaseLogger,
    rules: LinkageRule[],
  ) {
    this.rules = rules;
  }

  start(): void {
    this.bus.on('alarmNotify', 'linkage', ({ alarm, reason }) => {
      // A new alarm only: a repeat, an acknowledgement, a clearing, a re-notification or an
      // escalation triggers nothing again.
      if (reason !== 'raised') return;
      for (const rule of this.matching(alarm)) this.trigger(rule, alarm);
    });
    this.bus.on('incidentCreated', 'linkage', ({ incident, rule, alarm }) => {
      const r = rule ? this.rules.find((x) => x.id === rule) : undefined;
      if (!r || !incident.location) return;
      const device = alarm ? this.registry.getDevice(alarm.device) : undefined;
      this.run(
        r.actions,
        {
          location: incident.location,
          site: incident.site,
          incident: incident.id,
          rule: r.id,
          ...(device ? { near: device.key } : {}),
        },
        this.actorFor(r, incident.site),
      );
    });
  }

  listRules(): LinkageRule[] {
    return this.rules;
  }

  setRules(rules: LinkageRule[]): void {
    const ids = new Set<string>();
    for (const r of rules) {
      if (ids.has(r.id)) throw new HubError('HUB_ERR_VALIDATION', `rule id ${r.id} appears twice`);
      ids.add(r.id);
    }
    this.rules = rules;
  }

  /** The rules an alarm matches: its type, a site of the rule's zones (their subtrees), its kind. */
  matching(alarm: AlarmView): LinkageRule[] {
    const device = this.registry.getDevice(alarm.device);
    return this.rules.filter((r) => {
      if (r.enabled === false) return false;
      if (r.when.types.length > 0 && !r.when.types.includes(alarm.type)) return false;
      if (r.when.kinds?.length && (!device || !r.when.kinds.includes(device.kind))) return false;
      if (
        r.when.sites?.length &&
        !r.when.sites.some((s) => this.tree.subtree(s).concat(s).includes(alarm.site))
      )
        return false;
      return true;
    });
  }

  private trigger(rule: LinkageRule, alarm: AlarmView): void {
    const device = this.registry.getDevice(alarm.device);
    if (!device) return;
    this.log.info({ rule: rule.id, alarm: alarm.id, device: alarm.device }, 'linkage rule matched');
    if (rule.actions.incident) {
      this.bus.emit('incidentRequested', {
        rule: rule.id,
        alarm,
        incident: {
          title: rule.actions.incident.title ?? `${device.name}: ${alarm.type}`,
          category: rule.actions.incident.category,
          priority: rule.actions.incident.priority ?? 'high',
          site: alarm.site,
          location: device.position,
          devices: [alarm.device],
          // The rule's own (configured, human) name: the alarm's type and severity are codes,
          // which the dashboard words in the officer's language from the alarm itself.
          description: rule.name,
        },
      });
      return; // the plan runs when the incident exists (incidentCreated)
    }
    this.run(
      rule.actions,
      { location: device.position, site: alarm.site, incident: null, rule: rule.id, near: device.key },
      this.actorFor(rule, alarm.site),
    );
  }

  /**
   * Who an automatic plan acts as: a village operator of the alarm's own village, narrowed to the
   * rule's sites. Not the administrator: what a village raises (and a gateway in an attacker's hands
   * can raise anything) may move cameras and sound loudspeakers of that village only. The plan
   * picks devices through the same scope, so it never reaches into a neighbouring village.
   */
  actorFor(rule: LinkageRule, site: string): AuthUser {
    const village = this.tree.ancestors(site).find((id) => this.tree.get(id)?.level === 'village') ?? site;
    let sites = this.tree.subtree(village);
    if (rule.when.sites?.length) {
      const allowed = new Set(rule.when.sites.flatMap((s) => this.tree.subtree(s)));
      sites = sites.filter((s) => allowed.has(s));
    }
    return { username: LINKAGE_ACTOR, role: 'village_operator', sites, sid: 'linkage' };
  }

  /** The plan for a spot without acting (what the "link" panel shows first). */
  plan(
    actions: LinkageRule['actions'],
    at: { location: Position; site: string; incident: number | null; rule: string | null; near?: string },
    user: AuthUser,
  ): LinkagePlan {
    const visible = this.registry.listDevices().filter((d) => userMaySee(user, d.site));
    const online = visible.filter((d) => d.status !== 'offline');
    const near = (kind: string, max: number) =>
      online
        .filter((d) => d.kind === kind)
        .map((d) => ({ d, distanceM: Math.round(distanceM(d.position, at.location)) }))
        .filter((x) => x.distanceM <= max)
        .sort((a, b) => a.distanceM - b.distanceM);
    let cameras: LinkagePlan['cameras'] = [];
    if (actions.cameras) {
      const preset = actions.cameras.preset;
      cameras = near('camera', actions.cameras.maxDistanceM)
        .map(({ d, distanceM: m }) => ({
          key: d.key,
          distanceM: m,
          // The camera that raised the alarm sees its own spot.
          inView: d.key === at.near || cameraSees(d, at.location),
          turns: d.capabilities.includes('ptz'),
        }))
        .sort(
          (a, b) =>
            Number(!(b.inView || b.turns)) - Number(!(a.inView || a.turns)) || a.distanceM - b.distanceM,
        )
        .slice(0, actions.cameras.count)
        .map(({ key, distanceM: m, inView, turns }) => ({
          key,
          distanceM: m,
          inView,
          ...(preset && turns ? { preset } : {}),
        }));
    }
    const speakers = actions.broadcast
      ? near('speaker', actions.broadcast.maxDistanceM)
          .slice(0, actions.broadcast.count)
          .map(({ d, distanceM: m }) => ({ key: d.key, distanceM: m }))
      : [];
    const drone = actions.drone ? near('drone', actions.drone.maxDistanceM)[0] : undefined;
    return {
      incident: at.incident,
      rule: at.rule,
      location: at.location,
      site: at.site,
      cameras,
      speakers,
      drone: drone ? { key: drone.d.key, distanceM: drone.distanceM } : null,
      broadcast:
        actions.broadcast && speakers.length > 0 ? { mode: 'proposed', text: actions.broadcast.text } : null,
      notified: [],
      ts: Date.now(),
    };
  }

  /** Plans and acts: PTZ presets, an automatic broadcast, notifications; announced on the bus. */
  run(
    actions: LinkageRule['actions'],
    at: { location: Position; site: string; incident: number | null; rule: string | null; near?: string },
    user: AuthUser,
  ): LinkagePlan {
    const plan = this.plan(actions, at, user);
    if (actions.broadcast?.mode === 'auto' && plan.speakers.length > 0) {
      try {
        const b = this.broadcasts.create(user, {
          targets: { speakers: plan.speakers.map((s) => s.key) },
          content: { tts: { text: actions.broadcast.text } },
          priority: 'emergency',
          title: '联动预警',
        });
        plan.broadcast = { mode: 'started', id: b.id, text: actions.broadcast.text };
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'linkage broadcast not started');
      }
    }
    for (const c of plan.cameras) {
      const parsed = parseDeviceKey(c.key);
      if (!c.preset || !parsed) continue;
      try {
        this.commands.submit({
          user,
          gateway: parsed.gateway,
          device: parsed.device,
          action: 'ptz.preset.goto',
          params: { preset: c.preset },
        });
      } catch (err) {
        this.log.warn({ camera: c.key, err: (err as Error).message }, 'linkage preset not sent');
      }
    }
    if (actions.notify) plan.notified = [at.site];
    this.bus.emit('linkageExecuted', { plan, by: user.username });
    return plan;
  }
}
