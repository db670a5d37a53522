/**
 * Text-to-speech on the gateway with espeak-ng: only text crosses the uplink. Debian's `espeak-ng`
 * when installed (faster, the full voice set), else the WebAssembly build npm installs (`espeak-ng`),
 * so a fresh machine speaks too (`QLY_TTS_ENGINE=wasm` forces it). Mandarin uses `cmn-latn-pinyin`, which reads Chinese characters
 * correctly; English `en`. The result is a WAV file (22,050 Hz mono).
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';

const DEBIAN_ESPEAK = '/usr/bin/espeak-ng';
export const VOICES = { zh: 'cmn-latn-pinyin', en: 'en' } as const;

export class TtsError extends Error {}

/** Which engine speaks here: `debian` or `wasm`. */
export const ttsEngine = (): 'debian' | 'wasm' =>
  process.env.QLY_TTS_ENGINE === 'wasm' || !existsSync(DEBIAN_ESPEAK) ? 'wasm' : 'debian';

export async function synthesize(text: string, lang: keyof typeof VOICES, outPath: string): Promise<void> {
  // Control characters could steer espeak's SSML/markup handling; a leading '-' an option.
  const clean = [...text]
    .map((c) => (c.charCodeAt(0) < 32 || c.charCodeAt(0) === 127 ? ' ' : c))
    .join('')
    .trim();
  if (!clean) throw new TtsError('nothing to say');
  const voice = VOICES[lang];
  if (ttsEngine() === 'debian') {
    await new Promise<void>((resolve, reject) =>
      execFile(DEBIAN_ESPEAK, ['-v', voice, '-w', outPath, '--', clean], { timeout: 30_000 }, (err) =>
        err ? reject(new TtsError(`espeak-ng failed: ${err.message}`)) : resolve(),
      ),
    );
    return;
  }
  const { default: ESpeakNg } = await import('espeak-ng');
  try {
    const espeak = await ESpeakNg({ arguments: ['-v', voice, '-w', 'out.wav', '--', clean] });
    writeFileSync(outPath, espeak.FS.readFile('out.wav'));
  } catch (err) {
    throw new TtsError(`espeak-ng (WebAssembly) failed: ${(err as Error).message}`);
  }
}
