/**
 * How alarms read and order in the sidebar (pure helpers): critical pinned above motion noise,
 * health alarm names and outage durations in words, the flap count, and which updates make a sound.
 */
import { type AlarmView, HEALTH_ALARM_TYPES } from '@qianliyan/protocols';
import { afterEach, describe, expect, it } from 'vitest';
import {
  alarmNotes,
  alarmTitle,
  formatCountdown,
  formatDuration,
  listOrder,
  loudest,
  soundReason,
} from '../../src/alarm-centre/alarm-display.ts';
import { eventLabel, setLang } from '../../src/i18n.ts';

const alarm = (over: Partial<AlarmView>): AlarmView => ({
  id: 1,
  ts: 1_000_000,
  lastTs: 1_000_000,
  count: 1,
  site: 'dongshan',
  device: 'gw.cam',
  type: 'motion',
  severity: 'warning',
  source: 'event',
  state: 'active',
  owner: 'dongshan',
  escalations: 0,
  ackedBy: null,
  ackedAt: null,
  ackNote: null,
  clearedAt: null,
  durationMs: null,
  notifiedAt: 1_000_000,
  renotified: 0,
  incident: null,
  ...over,
});

afterEach(() => setLang('zh'));

describe('alarm display', () => {
  it('pins unacknowledged critical alarms above newer noise, each part newest first', () => {
    const order = listOrder([
      alarm({ id: 1 }),
      alarm({ id: 2, severity: 'critical' }),
      alarm({ id: 3 }),
      alarm({ id: 4, severity: 'alarm' }),
      alarm({ id: 5, severity: 'critical' }),
      alarm({ id: 6, severity: 'critical', ackedAt: 5, ackedBy: 'x' }),
    ]).map((a) => a.id);
    expect(order).toEqual([5, 2, 6, 4, 3, 1]);
  });

  it('names health alarms as the duty room says them, in both languages', () => {
    for (const [type, words] of Object.entries(HEALTH_ALARM_TYPES)) {
      setLang('zh');
      expect(eventLabel(type)).toBe(words.zh);
      setLang('en');
      expect(eventLabel(type)).toBe(words.en);
    }
    setLang('zh');
    expect(alarmTitle(alarm({ source: 'rule', type: 'rule.3', reason: '东山水位超警戒', rule: 3 }))).toBe(
      '读数规则：东山水位超警戒',
    );
  });

  it('durations and countdowns in words', () => {
    expect(formatDuration(45_000)).toBe('45 秒');
    expect(formatDuration(200_000)).toBe('3 分 20 秒');
    expect(formatDuration(2 * 3_600_000 + 5 * 60_000)).toBe('2 小时 5 分');
    expect(formatDuration(27 * 3_600_000)).toBe('1 天 3 小时');
    setLang('en');
    expect(formatDuration(200_000)).toBe('3 min 20 s');
    expect(formatCountdown(600_000)).toBe('10:00');
    expect(formatCountdown(59_001)).toBe('1:00');
    expect(formatCountdown(-5)).toBe('0:00');
  });

  it('notes the flap count and the outage (running, or its length once cleared)', () => {
    const health = { source: 'health' as const, type: 'health.device_offline', severity: 'alarm' as const };
    expect(alarmNotes(alarm({ ...health, count: 3, ts: 0 }), 90_000)).toEqual([
      '反复 3 次',
      '已中断 1 分 30 秒',
    ]);
    expect(
      alarmNotes(
        alarm({ ...health, clearedAt: 5, durationMs: 6 * 3_600_000, state: 'cleared_unacknowledged' }),
        0,
      ),
    ).toEqual(['中断 6 小时 0 分 后恢复']);
    expect(alarmNotes(alarm({ count: 12 }), 0)).toEqual(['×12']);
  });

  it('sounds for a new alarm, a condition back and a re-notification — not for a repeat or an acknowledgement', () => {
    const a = alarm({});
    expect(soundReason(undefined, a)).toBe('raised');
    expect(soundReason(a, { ...a, count: 2, lastTs: 2 })).toBeNull();
    expect(soundReason(a, { ...a, renotified: 1 })).toBe('renotified');
    expect(soundReason({ ...a, state: 'cleared_unacknowledged' }, a)).toBe('reopened');
    expect(soundReason(a, { ...a, ackedAt: 5, state: 'cleared' })).toBeNull();
    expect(soundReason(undefined, { ...a, state: 'cleared_unacknowledged' })).toBeNull();
    expect(loudest(['warning', 'critical', 'alarm'])).toBe('critical');
    expect(loudest([])).toBeNull();
  });
});
