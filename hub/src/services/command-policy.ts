/**
 * Who may send which command: one table, per action, read by the command service before anything is
 * published. A viewer commands nothing; a village operator only inside their own sites (the scope
 * rule, checked separately); actions that can harm (a drone landing or flying somewhere, changing
 * its mode) name their roles here and need `confirm: true` in the request — the dashboard asks the
 * officer first. Broadcasts are sent by the broadcast service, which checks the same roles and scopes.
 */
import type { ActionNameKnown } from '@qianliyan/protocols';
import type { HubError } from '../errors.ts';
import { checkDiscoveryTargets } from '../security/discovery-targets.ts';
import type { Role } from '../stores/state-db.ts';

export interface ActionPolicy {
  roles: readonly Role[];
  /** The request must carry `confirm: true`. */
  confirm?: boolean;
  /**
   * Sent by the hub's own services only (the video relay names the push session and waits for the
   * stream); refused on the REST command route.
   */
  internal?: boolean;
  /** A check of the (schema-valid) params for this role: the refusal, or undefined when allowed. */
  params?: (role: Role, params: Record<string, unknown>) => HubError | undefined;
}

const OPERATE: readonly Role[] = ['admin', 'duty_officer', 'village_operator'];
const COMMAND_ROOM: readonly Role[] = ['admin', 'duty_officer'];
const FLY: readonly Role[] = ['admin', 'duty_officer', 'drone_pilot'];
/** Everyone who may watch video (in their own sites). */
const WATCH: readonly Role[] = ['admin', 'duty_officer', 'drone_pilot', 'village_operator', 'viewer'];

export const COMMAND_POLICY: Readonly<Record<ActionNameKnown, ActionPolicy>> = {
  ping: { roles: COMMAND_ROOM },
  'ptz.move': { roles: OPERATE },
  'ptz.stop': { roles: OPERATE },
  'ptz.preset.goto': { roles: OPERATE },
  'ptz.preset.list': { roles: OPERATE },
  'ptz.preset.set': { roles: COMMAND_ROOM },
  'stream.start': { roles: WATCH, internal: true },
  'stream.stop': { roles: WATCH, internal: true },
  'camera.snapshot': { roles: WATCH, internal: true },
  // Multicast for the command room; named unicast targets for admins, private addresses only.
  'camera.discover': { roles: COMMAND_ROOM, params: checkDiscoveryTargets },
  'speaker.volume': { roles: OPERATE },
  'speaker.power': { roles: OPERATE },
  // Broadcasts go through the broadcast service (targets, priorities, records): not sent one by one.
  'speaker.play': { roles: OPERATE, internal: true },
  'speaker.stop': { roles: OPERATE, internal: true },
  'drone.rtl': { roles: FLY },
  'drone.hold': { roles: FLY },
  'drone.land': { roles: FLY, confirm: true },
  'drone.goto': { roles: FLY, confirm: true },
  'drone.mode': { roles: ['admin', 'drone_pilot'], confirm: true },
};
