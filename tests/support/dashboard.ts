/**
 * The dashboard as browser tests and benches see it: the test build that test hubs serve, and the
 * few things a test reads from a page. Tests of what an officer does go through the page itself —
 * its text, roles and labels; the test build's hook (`window.__qlyTest`, absent from the production
 * bundle) is for what no page shows: frame times, lag probes, decoded frames.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';

/** The dashboard's test build (`npm run build:test`, vite --mode test). */
export const TEST_DASHBOARD_DIR = fileURLToPath(new URL('../../dashboard/dist-test', import.meta.url));

/** Fails with what to do when the test build is missing (a browser test would only time out). */
export function requireTestBuild(): void {
  if (!existsSync(join(TEST_DASHBOARD_DIR, 'index.html')))
    throw new Error(
      `the dashboard's test build is missing: run \`npm run build:test\` (${TEST_DASHBOARD_DIR})`,
    );
}

/** Calls `fn` with the test build's hook object inside the page. */
export function testHook<T, A = undefined>(
  page: Page,
  fn: (hooks: Record<string, never>, arg: A) => T,
  arg?: A,
): Promise<T> {
  return page.evaluate(`(${fn.toString()})(window.__qlyTest, ${JSON.stringify(arg ?? null)})`) as Promise<T>;
}

/** Waits until the hook exists (the command or terminal view has started). */
export async function waitForHooks(page: Page, timeout = 30_000): Promise<void> {
  await page.waitForFunction(
    () => (window as unknown as { __qlyTest?: unknown }).__qlyTest !== undefined,
    null,
    {
      timeout,
    },
  );
}

/** The number of devices the page lists, from the device list's heading ("设备 (14)"). */
export async function listedDevices(page: Page): Promise<number> {
  const text = (await page.textContent('[data-role=device-count]')) ?? '';
  const m = /\((?:\d+ \/ )?(\d+)\)/.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Waits until the page lists `n` devices (the snapshot has arrived). */
export async function waitForDevices(page: Page, n: number, timeout = 30_000): Promise<void> {
  await page.waitForFunction(
    (want) => {
      const m = /\((?:\d+ \/ )?(\d+)\)/.exec(
        document.querySelector('[data-role=device-count]')?.textContent ?? '',
      );
      return m !== null && Number(m[1]) === want;
    },
    n,
    { timeout },
  );
}
