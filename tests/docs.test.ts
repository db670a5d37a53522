/** The docs say what the code does: the configuration reference is generated and must be current. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configDocs } from '../scripts/config-docs.ts';

describe('docs', () => {
  it('docs/configuration.md matches the config schemas (run `npm run docs:config`)', () => {
    expect(readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8')).toBe(configDocs());
  });

  it('protocols/README.md documents every topic shape', () => {
    const readme = readFileSync(new URL('../protocols/README.md', import.meta.url), 'utf8');
    for (const shape of [
      '/state',
      '/dev/{device}/meta',
      '/dev/{device}/recordings',
      '/dev/{device}/telemetry',
      '/dev/{device}/event',
      '/cmd',
      '/cmd/result',
    ]) {
      expect(readme, shape).toContain(`qly/v1/{site}/{gateway}${shape}\``);
    }
  });
});
