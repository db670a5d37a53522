/**
 * Who may see and do what: the roles, the role sets the rules are written in, the named rules
 * (`ACCESS`), the command policy (`COMMAND_POLICY`) and the scope rule over the site tree. The hub
 * enforces these; the dashboard reads the same tables to offer only what the hub will allow. Nothing
 * here is copied elsewhere: a rule that changes changes here, once.
 */
import { ACTIONS, type ActionNameKnown } from './actions.ts';

export const ROLES = ['admin', 'duty_officer', 'drone_pilot', 'village_operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** The role sets every rule is written in. */
export const ADMINISTER: readonly Role[] = ['admin'];
export const COMMAND_ROOM: readonly Role[] = ['admin', 'duty_officer'];
/** Operate devices and act on incidents and alarms in their own sites. */
export const OPERATE: readonly Role[] = ['admin', 'duty_officer', 'village_operator'];
export const FLY: readonly Role[] = ['admin', 'duty_officer', 'drone_pilot'];
/** Everyone who may watch video (in their own sites). */
export const WATCH: readonly Role[] = ROLES;
/** Who broadcasts over loudspeakers (a village operator to their own village only). */
export const BROADCAST: readonly Role[] = OPERATE;
/** Who accepts, assigns, handles and closes incidents, and acknowledges alarms. */
export const ACT_ON_INCIDENTS: readonly Role[] = OPERATE;
/**
 * The village terminal: always limited to its sites (an account without sites sees nothing), it
 * reports incidents as the village and calls the command room, not other villages.
 */
export const VILLAGE: readonly Role[] = ['village_operator'];

export function hasRole(role: Role, set: readonly Role[]): boolean {
  return set.includes(role);
}

/**
 * The named rules beyond device commands: which roles each guarded act takes. The hub's routes and
 * services check these (`app.requireRole(ACCESS.x)`, `may(role, 'x')`); the dashboard shows a control
 * only when `may` says the hub will take it. Scope (which sites) is checked on top by `userMaySee`.
 */
export const ACCESS = {
  /** Users, gateways, sites, linkage rules, the audit log, metrics. */
  administer: ADMINISTER,
  reportIncident: ACT_ON_INCIDENTS,
  actOnIncident: ACT_ON_INCIDENTS,
  acknowledgeAlarm: ACT_ON_INCIDENTS,
  /** Run an incident's linkage by hand and send its proposed warning. */
  linkIncident: COMMAND_ROOM,
  /** Send a drone to an incident (a confirmed `drone.goto`, see COMMAND_POLICY). */
  dispatchDrone: FLY,
  broadcast: BROADCAST,
  /** Cancel another user's broadcast (a sender may always cancel their own, and the linkage's). */
  cancelAnyBroadcast: COMMAND_ROOM,
  placeCall: OPERATE,
  /**
   * Call villages (from an incident, the site tree, a gateway's card). A village terminal places
   * calls too, but only to the command room.
   */
  callVillage: COMMAND_ROOM,
  /** Ring for, answer and join calls to the command room. */
  answerCommandRoom: COMMAND_ROOM,
  /** The video relays' state (`GET /api/video/relays`). */
  inspectVideo: COMMAND_ROOM,
} as const satisfies Record<string, readonly Role[]>;
export type AccessRule = keyof typeof ACCESS;

export function may(role: Role, rule: AccessRule): boolean {
  return hasRole(role, ACCESS[rule]);
}

/** One action's rule: who may send it, and how. */
export interface ActionRule {
  roles: readonly Role[];
  /** The request must carry `confirm: true` (the dashboard asks the officer first). */
  confirm?: boolean;
  /**
   * Sent by the hub's own services only (the video relay names the push session and waits for the
   * stream; broadcasts go through the broadcast service); refused on the REST command route.
   */
  internal?: boolean;
  /** Params only some roles may set (when present and non-empty): param name → roles. */
  paramRoles?: Readonly<Record<string, readonly Role[]>>;
}

/**
 * Who may send which command: one row per action, read by the hub's command service before anything
 * is published and by the dashboard to offer a control. A viewer commands nothing; a village
 * operator only inside their own sites (the scope rule, checked separately); actions that can harm
 * (a drone landing or flying somewhere, changing its mode) need `confirm: true`.
 */
export const COMMAND_POLICY: Readonly<Record<ActionNameKnown, ActionRule>> = {
  ping: { roles: COMMAND_ROOM },
  'ptz.move': { roles: OPERATE },
  'ptz.stop': { roles: OPERATE },
  'ptz.preset.goto': { roles: OPERATE },
  'ptz.preset.list': { roles: OPERATE },
  // A preset is shared by everyone who turns the camera to it: the command room keeps them.
  'ptz.preset.set': { roles: COMMAND_ROOM },
  'stream.start': { roles: WATCH, internal: true },
  'stream.stop': { roles: WATCH, internal: true },
  'camera.snapshot': { roles: WATCH, internal: true },
  // Evidence for an alarm or incident: pulled by the hub's evidence service, never by hand.
  'recording.clip': { roles: WATCH, internal: true },
  // Multicast for the command room; named unicast targets for admins only (the hub also keeps them
  // to private addresses): otherwise a gateway becomes a UDP scanner of whatever it can reach.
  'camera.discover': { roles: COMMAND_ROOM, paramRoles: { targets: ADMINISTER } },
  // Fleet operations: administrators only (a restart interrupts a village; logs show its LAN).
  'gateway.restart': { roles: ADMINISTER },
  'gateway.logs': { roles: ADMINISTER },
  'speaker.volume': { roles: OPERATE },
  'speaker.power': { roles: OPERATE },
  // Broadcasts go through the broadcast service (targets, priorities, records): not sent one by one.
  'speaker.play': { roles: BROADCAST, internal: true },
  'speaker.stop': { roles: BROADCAST, internal: true },
  'drone.rtl': { roles: FLY },
  'drone.hold': { roles: FLY },
  'drone.land': { roles: FLY, confirm: true },
  'drone.goto': { roles: FLY, confirm: true },
  'drone.mode': { roles: ['admin', 'drone_pilot'], confirm: true },
};

/** Whether `role` may send `action` itself (on the REST command route: not the hub's internal ones). */
export function mayCommand(role: Role, action: string): boolean {
  const rule = Object.hasOwn(COMMAND_POLICY, action) ? COMMAND_POLICY[action as ActionNameKnown] : undefined;
  return rule !== undefined && !rule.internal && hasRole(role, rule.roles);
}

/**
 * The device actions `role` may send to a device advertising `capabilities` (`cmd.<action>`), in
 * catalog order: what a dashboard may offer for that device, and nothing the hub would refuse.
 */
export function commandsOffered(role: Role, capabilities: readonly string[]): ActionNameKnown[] {
  return (Object.keys(ACTIONS) as ActionNameKnown[]).filter(
    (a) => ACTIONS[a].scope === 'device' && capabilities.includes(`cmd.${a}`) && mayCommand(role, a),
  );
}

/** The identity a rule is checked against: a role and, when limited, the site ids it covers. */
export interface Principal {
  username: string;
  role: Role;
  /** Every site id the user's scope covers (its nodes' subtrees, expanded); empty = unlimited. */
  sites: readonly string[];
}

/**
 * The scope rule: a user with sites on the account sees only those; a village terminal always has
 * sites (and sees nothing without); everyone else without sites sees all.
 */
export function userMaySee(user: Pick<Principal, 'role' | 'sites'>, site: string): boolean {
  if (user.sites.length > 0) return user.sites.includes(site);
  return !hasRole(user.role, VILLAGE);
}

/**
 * The scope rule as a filter: the sites a user is limited to, or undefined when unlimited (a query
 * then needs no site condition). A village terminal without sites is limited to none.
 */
export function scopeSites(user: Pick<Principal, 'role' | 'sites'>): readonly string[] | undefined {
  if (user.sites.length > 0) return user.sites;
  return hasRole(user.role, VILLAGE) ? [] : undefined;
}

/** Whether a user sees something that concerns `sites`: any of them, or all of them. */
export function userMaySeeSites(
  user: Pick<Principal, 'role' | 'sites'>,
  sites: readonly string[],
  match: 'any' | 'all',
): boolean {
  return match === 'all' ? sites.every((s) => userMaySee(user, s)) : sites.some((s) => userMaySee(user, s));
}
