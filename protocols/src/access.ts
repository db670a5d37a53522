/**
 * Who may see and do what: the roles, the role sets the rules are written in, the command policy
 * and the scope rule over the site tree. The hub enforces these; the dashboard reads the same table
 * to offer only what the hub will allow. Nothing here is copied elsewhere.
 */

export const ROLES = ['admin', 'duty_officer', 'drone_pilot', 'village_operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** The role sets every rule is written in. */
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

export function hasRole(role: Role, set: readonly Role[]): boolean {
  return set.includes(role);
}

/** The identity a rule is checked against: a role and, when limited, the site ids it covers. */
export interface Principal {
  username: string;
  role: Role;
  /** Every site id the user's scope covers (its nodes' subtrees, expanded); empty = unlimited. */
  sites: readonly string[];
}

/**
 * The scope rule: a user with sites on the account sees only those; a village operator always has
 * sites (and sees nothing without); everyone else without sites sees all.
 */
export function userMaySee(user: Pick<Principal, 'role' | 'sites'>, site: string): boolean {
  if (user.sites.length > 0) return user.sites.includes(site);
  return user.role !== 'village_operator';
}

/** Whether a user sees something that concerns `sites`: any of them, or all of them. */
export function userMaySeeSites(
  user: Pick<Principal, 'role' | 'sites'>,
  sites: readonly string[],
  match: 'any' | 'all',
): boolean {
  return match === 'all' ? sites.every((s) => userMaySee(user, s)) : sites.some((s) => userMaySee(user, s));
}
