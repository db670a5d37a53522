/**
 * How an alarm reads on the screen, as pure functions (unit-tested in dashboard/test): the order of
 * the sidebar list (critical pinned above the rest, so an intrusion never drowns in motion noise),
 * an alarm's words (health and rule alarms named as a duty room says them), its state, its outage's
 * duration and its flap count, and which changes deserve a sound.
 */
import { type AlarmView, severityRank } from '@qianliyan/protocols';
import { eventLabel, t } from '../i18n.ts';

/** Critical alarms still wanting an officer stay above everything else. */
export function isPinned(a: AlarmView): boolean {
  return a.severity === 'critical' && a.ackedAt === null;
}

/** Still wants an officer: not acknowledged yet (active, or cleared while nobody looked). */
export function wantsOfficer(a: AlarmView): boolean {
  return a.ackedAt === null;
}

/** The sidebar's order: pinned critical first, then the rest; each part newest first. */
export function listOrder(alarms: Iterable<AlarmView>): AlarmView[] {
  return [...alarms].sort((a, b) => Number(isPinned(b)) - Number(isPinned(a)) || b.id - a.id);
}

/** A duration in words: "45 秒", "3 分 20 秒", "2 小时 5 分", "1 天 3 小时". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const d = Math.floor(total / 86_400);
  const h = Math.floor((total % 86_400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (d > 0) return t('durDays', { d, h });
  if (h > 0) return t('durHours', { h, m });
  if (m > 0) return t('durMinutes', { m, s });
  return t('durSeconds', { s });
}

/** `m:ss` for a countdown. */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`;
}

/** What fired: a device event's name, a health alarm's (设备离线…), or the rule's name. */
export function alarmTitle(a: AlarmView): string {
  if (a.source === 'rule') return t('ruleAlarm', { name: a.reason ?? `#${a.rule ?? ''}` });
  return eventLabel(a.type);
}

/** The state in words. */
export function stateLabel(a: AlarmView): string {
  return t(`alarmState_${a.state}`);
}

/**
 * The notes beside the title: a flapping condition's count (×N), a health or rule alarm's outage so
 * far (`now`) or its length once it cleared.
 */
export function alarmNotes(a: AlarmView, now: number): string[] {
  const notes: string[] = [];
  if (a.count > 1) notes.push(a.source === 'event' ? `×${a.count}` : t('flapCount', { n: a.count }));
  if (a.source !== 'event') {
    if (a.clearedAt !== null && a.durationMs !== null)
      notes.push(t('outageLasted', { d: formatDuration(a.durationMs) }));
    else if (a.clearedAt === null) notes.push(t('outageFor', { d: formatDuration(now - a.ts) }));
  }
  return notes;
}

/** Why an alarm update should be heard: a new alarm, a condition back again, or a re-notification. */
export type SoundReason = 'raised' | 'reopened' | 'renotified';

/** Compares an alarm payload with the one seen before it (undefined: first seen now). */
export function soundReason(before: AlarmView | undefined, after: AlarmView): SoundReason | null {
  if (after.ackedAt !== null) return null;
  if (!before) return after.state === 'active' ? 'raised' : null;
  if (after.renotified > before.renotified) return 'renotified';
  if (after.state === 'active' && before.state !== 'active') return 'reopened';
  return null;
}

/** The loudest of several severities (one tone when several alarms arrive together). */
export function loudest(severities: Iterable<string>): string | null {
  let best: string | null = null;
  for (const s of severities) if (best === null || severityRank(s) > severityRank(best)) best = s;
  return best;
}
