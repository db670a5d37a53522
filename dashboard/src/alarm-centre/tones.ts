/**
 * One tone per severity, told apart by ear without looking (after the IEC 60601-1-8 idea of
 * priority by pattern: the higher the priority, the faster, higher and longer the burst):
 * - critical: a two-tone siren, 988/740 Hz square, six fast notes;
 * - alarm: three 660 Hz notes on a triangle wave;
 * - warning: one soft 440 Hz sine note.
 * Pure data and one scheduler over a Web Audio context.
 */
export interface ToneNote {
  /** Hz. */
  freq: number;
  /** Seconds from the start of the tone. */
  at: number;
  /** Seconds. */
  length: number;
}

export interface Tone {
  wave: OscillatorType;
  /** 0…1 peak gain. */
  gain: number;
  notes: ToneNote[];
}

const notes = (freqs: number[], step: number, length: number): ToneNote[] =>
  freqs.map((freq, i) => ({ freq, at: i * step, length }));

export const TONES: Record<'warning' | 'alarm' | 'critical', Tone> = {
  critical: { wave: 'square', gain: 0.25, notes: notes([988, 740, 988, 740, 988, 740], 0.18, 0.16) },
  alarm: { wave: 'triangle', gain: 0.3, notes: notes([660, 660, 660], 0.3, 0.18) },
  warning: { wave: 'sine', gain: 0.25, notes: notes([440], 0.5, 0.35) },
};

/** The tone of a severity (`info` has none). */
export function toneOf(severity: string): Tone | undefined {
  return TONES[severity as keyof typeof TONES];
}

/** Plays a tone on `ctx` now: one oscillator per note, each with a short attack and release. */
export function playTone(ctx: AudioContext, tone: Tone): void {
  const start = ctx.currentTime + 0.02;
  for (const n of tone.notes) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = tone.wave;
    osc.frequency.value = n.freq;
    const t0 = start + n.at;
    gain.gain.setValueAtTime(0, t0);
    gain.gain.linearRampToValueAtTime(tone.gain, t0 + 0.01);
    gain.gain.setValueAtTime(tone.gain, t0 + n.length - 0.02);
    gain.gain.linearRampToValueAtTime(0, t0 + n.length);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t0);
    osc.stop(t0 + n.length + 0.01);
  }
}
