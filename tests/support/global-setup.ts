/**
 * Leaves the machine as the run found it: every temporary directory the tests made (`qly-*` in the
 * system temp dir — hub data dirs kept across a restart within a test, outboxes, broker and browser
 * profiles) is removed when the run ends. Only entries created after the run started are touched.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const started = Date.now() - 1000;
  return () => {
    const dir = tmpdir();
    let removed = 0;
    for (const name of readdirSync(dir)) {
      if (!name.startsWith('qly-')) continue;
      const path = join(dir, name);
      try {
        const st = statSync(path);
        // Creation time where the filesystem keeps it, else the last status change.
        if ((st.birthtimeMs || st.ctimeMs) < started) continue;
        rmSync(path, { recursive: true, force: true });
        removed += 1;
      } catch {
        // Gone already, or not ours to remove.
      }
    }
    process.stdout.write(`removed ${removed} temporary directories made by the tests\n`);
  };
}
