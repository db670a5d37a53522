/** Each severity's tone is told apart by ear: its own wave, pitches and length. */
import { describe, expect, it } from 'vitest';
import { TONES, toneOf } from '../../src/alarm-centre/tones.ts';

describe('alarm tones', () => {
  it('differ per severity, the more urgent the longer and higher', () => {
    const sig = (s: keyof typeof TONES) => `${TONES[s].wave}:${TONES[s].notes.map((n) => n.freq).join('/')}`;
    expect(new Set([sig('warning'), sig('alarm'), sig('critical')]).size).toBe(3);
    const span = (s: keyof typeof TONES) => TONES[s].notes.length;
    expect(span('critical')).toBeGreaterThan(span('alarm'));
    expect(span('alarm')).toBeGreaterThan(span('warning'));
    expect(Math.max(...TONES.critical.notes.map((n) => n.freq))).toBeGreaterThan(
      Math.max(...TONES.warning.notes.map((n) => n.freq)),
    );
    expect(toneOf('info')).toBeUndefined();
    for (const t of Object.values(TONES)) for (const n of t.notes) expect(n.length).toBeGreaterThan(0.05);
  });
});
