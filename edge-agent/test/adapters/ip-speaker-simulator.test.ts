/**
 * The loudspeaker simulator as an RTP receiver: G.711 A-law decoded (ITU reference values), volume
 * applied, a transmission per SSRC ended by silence; anything that is not RTP (or not G.711) is
 * counted and dropped without disturbing what plays.
 */
import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../tests/support/wait.ts';
import { SpeakerSimulator } from '../../src/adapters/ip-speaker/simulator.ts';
import { alawToPcm, mulawToPcm, rmsDbfs } from '../../src/audio/g711.ts';

const rtp = (pt: number, seq: number, ssrc: number, payload: Buffer) => {
  const h = Buffer.alloc(12);
  h[0] = 0x80;
  h[1] = pt;
  h.writeUInt16BE(seq, 2);
  h.writeUInt32BE(seq * 160, 4);
  h.writeUInt32BE(ssrc, 8);
  return Buffer.concat([h, payload]);
};

describe('G.711', () => {
  it('decodes A-law and µ-law as the ITU tables say', () => {
    expect([...alawToPcm(Uint8Array.from([0xd5, 0x55, 0x2a, 0xaa]))]).toEqual([8, -8, -32256, 32256]);
    expect([...mulawToPcm(Uint8Array.from([0xff, 0x7f, 0x00, 0x80]))]).toEqual([0, 0, -32124, 32124]);
    expect(rmsDbfs(new Int16Array(100))).toBe(-120);
    expect(rmsDbfs(Int16Array.from({ length: 100 }, (_, i) => (i % 2 ? 32767 : -32767)))).toBe(0);
  });
});

describe('SpeakerSimulator', () => {
  const sim = new SpeakerSimulator({ volume: 50, silenceGapMs: 200 });
  const out = createSocket('udp4');
  beforeAll(() => sim.start());
  afterAll(async () => {
    out.close();
    await sim.stop();
  });

  it('a transmission: decoded at its volume, timed, and ended by silence; garbage is counted and dropped', async () => {
    const send = (b: Buffer) => new Promise<void>((r) => out.send(b, sim.port, '127.0.0.1', () => r()));
    for (let i = 0; i < 50; i++) {
      await send(rtp(8, i, 0xabc, Buffer.alloc(160, 0xaa))); // full scale positive, A-law
      if (i % 10 === 0) {
        await send(Buffer.from('not rtp at all'));
        await send(rtp(96, i, 0xabc, Buffer.alloc(160, 1))); // a dynamic payload type: not G.711
        await send(Buffer.alloc(5));
      }
    }
    const r = await waitFor('recorded', () => sim.recordings[0], 3000);
    expect(r.packets).toBe(50);
    expect(r.durationMs).toBe(1000); // 50 × 160 samples at 8 kHz
    expect(r.rmsDbfs).toBeCloseTo(20 * Math.log10((32256 * 0.5) / 32768), 0); // volume 50 %
    expect(sim.badPackets).toBe(15);
  });
});
