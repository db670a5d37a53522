/**
 * The live topics: every event the hub pushes to dashboards besides the device snapshot/delta
 * stream — its payload schema, the key it is kept under in the dashboard's store, and who it
 * belongs to (the sites it concerns, or the one user it is for). The hub fans each entry out with
 * one loop and one scope check (hub/src/plugins/live.ts); the dashboard keeps one collection per
 * topic (dashboard/src/live-store.ts) that panels subscribe to. A new live event is one row here,
 * one line where the hub produces it, and the panels that read it.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { type userMaySee, userMaySeeSites } from './access.ts';
import { AlarmView } from './alarms.ts';
import { BroadcastView } from './audio.ts';
import { IncidentView, LinkageEvent } from './incidents.ts';
import { CommandView } from './live.ts';

export interface LiveTopic<S extends TSchema = TSchema> {
  schema: S;
  /** The key a payload is stored under (a newer payload with the same key replaces the older). */
  key(payload: Static<S>): string;
  /** The sites a payload concerns; a user sees it when the scope rule allows `match` of them. */
  sites?(payload: Static<S>): readonly string[];
  match?: 'any' | 'all';
  /** A payload for one user only (their own commands). */
  owner?(payload: Static<S>): string;
  /** How many the dashboard keeps (the newest by arrival). */
  keep: number;
}

const topic = <S extends TSchema>(t: LiveTopic<S>): LiveTopic<S> => t;

export const LIVE_TOPICS = {
  /** A command this user sent changed state (its result arrived, or it timed out). */
  command: topic({ schema: CommandView, key: (c) => c.id, owner: (c) => c.username, keep: 200 }),
  /**
   * An alarm was raised, repeated, acknowledged, cleared, re-notified or escalated (each step a new
   * payload under the same id): for those who see its place or the level it was escalated to.
   */
  alarm: topic({ schema: AlarmView, key: (a) => String(a.id), sites: (a) => [a.site, a.owner], keep: 500 }),
  /** A broadcast's state or a speaker's delivery changed: for those who see all of its villages. */
  broadcast: topic({
    schema: BroadcastView,
    key: (b) => b.id,
    sites: (b) => b.sites,
    match: 'all',
    keep: 200,
  }),
  /** An incident was created or changed: for those who see the place or the level handling it. */
  incident: topic({
    schema: IncidentView,
    key: (i) => String(i.id),
    sites: (i) => [i.site, i.owner],
    keep: 1000,
  }),
  /**
   * A linkage ran (by rule or by hand): cameras to open, proposals to confirm. Kept per incident
   * (the latest plan of each), so an incident opened later still shows its plan.
   */
  linkage: topic({
    schema: LinkageEvent,
    key: (l) =>
      l.plan.incident !== null ? `incident:${l.plan.incident}` : `rule:${l.plan.rule}/${l.plan.ts}`,
    sites: (l) => [l.plan.site],
    keep: 100,
  }),
} as const;

export type LiveTopicName = keyof typeof LIVE_TOPICS;
export type LivePayload<N extends LiveTopicName> = Static<(typeof LIVE_TOPICS)[N]['schema']>;

/** Whether `user` gets a payload of `entry` (the one scope check of the live fan-out). */
export function liveVisibleTo<S extends TSchema>(
  entry: LiveTopic<S>,
  payload: Static<S>,
  user: { username: string; role: Parameters<typeof userMaySee>[0]['role']; sites: readonly string[] },
): boolean {
  if (entry.owner) return entry.owner(payload) === user.username;
  return userMaySeeSites(user, entry.sites?.(payload) ?? [], entry.match ?? 'any');
}
