/** G.711 decoding (ITU-T G.711 A-law and µ-law to 16-bit PCM), levels and WAV files. */

function alawSample(a: number): number {
  a ^= 0x55;
  let t = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg === 0) t += 8;
  else if (seg === 1) t += 0x108;
  else t = (t + 0x108) << (seg - 1);
  return a & 0x80 ? t : -t;
}

function mulawSample(u: number): number {
  u = ~u & 0xff;
  let t = ((u & 0x0f) << 3) + 0x84;
  t <<= (u & 0x70) >> 4;
  return u & 0x80 ? 0x84 - t : t - 0x84;
}

const ALAW = Int16Array.from({ length: 256 }, (_, i) => alawSample(i));
const MULAW = Int16Array.from({ length: 256 }, (_, i) => mulawSample(i));

const decode =
  (table: Int16Array) =>
  (bytes: Uint8Array, gain = 1): Int16Array => {
    const out = new Int16Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) out[i] = Math.round((table[bytes[i] as number] as number) * gain);
    return out;
  };
export const alawToPcm = decode(ALAW);
export const mulawToPcm = decode(MULAW);

/** RMS level of 16-bit PCM in dBFS (−∞ for silence, shown as −120). */
export function rmsDbfs(pcm: Int16Array): number {
  if (pcm.length === 0) return -120;
  let sum = 0;
  for (const s of pcm) sum += s * s;
  const rms = Math.sqrt(sum / pcm.length) / 32768;
  return rms > 0 ? Math.max(-120, Math.round(20 * Math.log10(rms) * 10) / 10) + 0 : -120;
}

/** A mono 16-bit PCM WAV file. */
export function wavFile(pcm: Int16Array, rate: number): Buffer {
  const data = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVE', 8);
  header.write('fmt ', 12);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
}
