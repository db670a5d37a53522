/**
 * Text-to-speech on both engines: Debian's espeak-ng (CI installs it) and the WebAssembly build npm
 * installs (what a fresh machine without it uses). Both speak Mandarin and English into WAV files of
 * similar length; text with control characters or a leading dash is spoken, not taken as options.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemBinary } from '../../../tests/support/system.ts';
import { synthesize, ttsEngine } from '../../src/audio/tts.ts';

const dir = mkdtempSync(join(tmpdir(), 'qly-tts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Seconds of audio in a PCM WAV (from its header). */
function seconds(file: string): number {
  const wav = readFileSync(file);
  expect(wav.toString('latin1', 0, 4)).toBe('RIFF');
  const byteRate = wav.readUInt32LE(28);
  return (wav.length - 44) / byteRate;
}

async function speak(engine: 'debian' | 'wasm', text: string, lang: 'zh' | 'en'): Promise<number> {
  const before = process.env.QLY_TTS_ENGINE;
  process.env.QLY_TTS_ENGINE = engine === 'wasm' ? 'wasm' : '';
  try {
    expect(ttsEngine()).toBe(engine);
    const file = join(dir, `${engine}-${lang}-${Math.random()}.wav`);
    await synthesize(text, lang, file);
    return seconds(file);
  } finally {
    process.env.QLY_TTS_ENGINE = before ?? '';
  }
}

describe('text-to-speech', () => {
  const debian = systemBinary('/usr/bin/espeak-ng', 'espeak-ng');

  it('the WebAssembly engine speaks Mandarin and English', async () => {
    expect(await speak('wasm', '村民请注意，明天有大雨。', 'zh')).toBeGreaterThan(2);
    expect(await speak('wasm', 'Attention please, heavy rain tomorrow.', 'en')).toBeGreaterThan(1.5);
  }, 30_000);

  it.skipIf(!debian)(
    'Debian’s engine agrees with it on length (within 15 %)',
    async () => {
      const text = '各位村民，请注意防范电信诈骗。';
      const a = await speak('debian', text, 'zh');
      const b = await speak('wasm', text, 'zh');
      expect(Math.abs(a - b) / a).toBeLessThan(0.15);
    },
    30_000,
  );

  it('text that looks like options or holds control characters is spoken as text', async () => {
    const engine = debian ? 'debian' : 'wasm';
    expect(await speak(engine, '--help\u0007 -w /tmp/x 注意', 'zh')).toBeGreaterThan(0.5);
    await expect(speak(engine, '\u0001\u0002 ', 'zh')).rejects.toThrow(/nothing to say/);
  }, 30_000);
});
