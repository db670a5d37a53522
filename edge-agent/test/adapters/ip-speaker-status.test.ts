/**
 * A loudspeaker's status answer (status.ts): what it says, what is refused, and what proves a
 * broadcast was received.
 */
import { describe, expect, it } from 'vitest';
import {
  parseSpeakerStatus,
  playbackConfirmation,
  SpeakerStatusError,
} from '../../src/adapters/ip-speaker/status.ts';

describe('speaker status', () => {
  it('reads the simulator’s answer and common firmware spellings', () => {
    expect(parseSpeakerStatus({ volume: 80, power: true, playing: false, packets: 1200 })).toEqual({
      volume: 80,
      power: true,
      playing: false,
      packets: 1200,
    });
    expect(parseSpeakerStatus({ power: 'on', state: 'playing', rtpPackets: '42' })).toEqual({
      power: true,
      playing: true,
      packets: 42,
    });
    expect(parseSpeakerStatus({ power: 0, rxPackets: 7, volume: 101 })).toEqual({ power: false, packets: 7 });
  });

  it('refuses what is not a status, and ignores values out of range', () => {
    for (const bad of [null, 'ok', 42, [1, 2], {}, { hello: 'world' }, { packets: -1 }, { packets: 1.5 }])
      expect(() => parseSpeakerStatus(bad)).toThrow(SpeakerStatusError);
    expect(parseSpeakerStatus({ power: true, packets: 'many' })).toEqual({ power: true });
  });

  it('confirms a broadcast only by a packet counter that rose, or a speaker seen playing', () => {
    expect(playbackConfirmation({ packets: 100 }, { packets: 160 })).toBe('confirmed');
    expect(playbackConfirmation({ packets: 100 }, { packets: 100, playing: true })).toBe('not_received');
    // A counter that went down was reset (the speaker restarted): what it counts now is new.
    expect(playbackConfirmation({ packets: 5000 }, { packets: 40 })).toBe('confirmed');
    expect(playbackConfirmation({ packets: 5000 }, { packets: 0 })).toBe('not_received');
    // No baseline: only a playing speaker proves it.
    expect(playbackConfirmation(undefined, { packets: 40 })).toBe('cannot_tell');
    expect(playbackConfirmation(undefined, { packets: 40, playing: true })).toBe('confirmed');
    // No counter: a flag proves it while playing; idle says nothing.
    expect(playbackConfirmation({ power: true }, { playing: true })).toBe('confirmed');
    expect(playbackConfirmation({ power: true }, { playing: false })).toBe('cannot_tell');
    expect(playbackConfirmation({ power: true }, { power: true, volume: 50 })).toBe('cannot_tell');
  });
});
