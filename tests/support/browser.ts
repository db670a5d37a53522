/**
 * Debian's chromium for the browser tests and benches: the flags every run needs (headless, no
 * sandbox in a container, nothing reaching the network), the fake camera and microphone for calls,
 * a fresh profile under the temp dir (removed by the run's teardown), and signing in.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { CHROMIUM } from './system.ts';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** WebRTC on loopback with a fake camera and microphone, no permission prompt. */
export const MEDIA_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];

export async function launchChromium(
  options: {
    viewport?: { width: number; height: number };
    media?: boolean;
    acceptDownloads?: boolean;
    permissions?: string[];
    timezoneId?: string;
  } = {},
): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'qly-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: options.viewport ?? { width: 1600, height: 900 },
    ...(options.acceptDownloads ? { acceptDownloads: true } : {}),
    ...(options.permissions ? { permissions: options.permissions } : {}),
    ...(options.timezoneId ? { timezoneId: options.timezoneId } : {}),
    args: [...CHROMIUM_ARGS, ...(options.media ? MEDIA_ARGS : [])],
  });
  // The profile goes with the browser (benches have no run teardown to remove it).
  // (Chromium may still be writing into it as it closes: retried, and never an error of the run.)
  context.on('close', () => {
    try {
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    } catch {
      /* left for the run's teardown */
    }
  });
  return context;
}

/** Fills the login form and submits it (the page is on the dashboard's login view). */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', password);
  await page.click('button[type=submit]');
}
