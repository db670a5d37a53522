/**
 * A push source holds at most one gateway session. The relay (real, with its watchdog and retry
 * timers, on a fake clock) drives a PushSource whose gateway side is faked: the first starts fail
 * (the gateway offline), which grows the relay's backoff past its watchdog, and then no media ever
 * comes. Then a watchdog restart can fire while another restart's timer is still pending, and the
 * source is started twice in a row. A session opened and never closed is a gateway pusher uploading
 * into a relay that no longer exists (the hub's 4404 is only ever sent for the current session).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Fmp4Reader } from '../../src/video/fmp4.ts';
import { Relay, type RelayOptions } from '../../src/video/relay.ts';
import { type PushChannel, PushSource } from '../../src/video/sources.ts';

/** Two seconds of real fragmented MP4 (as a gateway's ffmpeg pushes it): its init and fragments. */
function realMedia(): { init: Buffer; fragments: Buffer[] } {
  const bytes = execFileSync('/usr/bin/ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10'],
    ...['-t', '2', '-c:v', 'libx264', '-g', '10', '-f', 'mp4'],
    ...['-movflags', 'empty_moov+default_base_moof+frag_keyframe', '-frag_duration', '100000', 'pipe:1'],
  ]);
  const media: { init: Buffer; fragments: Buffer[] } = { init: Buffer.alloc(0), fragments: [] };
  const reader = new Fmp4Reader(
    (init) => {
      media.init = init.data;
    },
    (fragment) => void media.fragments.push(fragment.data),
  );
  reader.push(bytes);
  return media;
}

function fakeGateway(failFirstStarts: number) {
  const open = new Set<string>();
  const stopped: string[] = [];
  let starts = 0;
  let mostOpen = 0;
  const channel: PushChannel = {
    open: (session) => {
      open.add(session);
      mostOpen = Math.max(mostOpen, open.size);
    },
    close: (session) => void open.delete(session),
    command: async (action, params) => {
      if (action === 'stream.stop') {
        stopped.push(params.session as string);
        return;
      }
      starts += 1;
      if (starts <= failFirstStarts) throw new Error('gateway gw is offline');
    },
  };
  return { channel, open, stopped, mostOpen: () => mostOpen, starts: () => starts };
}

describe('push source sessions', () => {
  afterEach(() => vi.useRealTimers());

  it.skipIf(!existsSync('/usr/bin/ffmpeg'))(
    'a restart racing another restart never leaves a gateway session open',
    async () => {
      const media = realMedia();
      vi.useFakeTimers();
      const gateway = fakeGateway(4);
      // The first start that succeeds brings no media (the camera is still rebooting), so the
      // watchdog restarts it with the backoff the failed starts left; from the next one on, the
      // gateway pushes steadily.
      let relay: Relay | undefined;
      let successes = 0;
      const push = gateway.channel.command;
      gateway.channel.command = async (action, params) => {
        await push(action, params);
        if (action !== 'stream.start' || ++successes < 2) return;
        const r = relay as Relay;
        const session = params.session as string;
        r.sourceEnded('a new connection from the gateway');
        r.feed(media.init);
        let i = 0;
        const timer = setInterval(() => {
          if (!gateway.open.has(session)) return clearInterval(timer);
          r.feed(media.fragments[i++ % media.fragments.length] as Buffer);
        }, 100);
      };
      relay = new Relay(
        'gw.cam',
        'sub',
        new PushSource(gateway.channel, 'sub'),
        {
          ffmpeg: 'ffmpeg',
          stallMs: 1500,
          watchdogMs: 4000,
          idleStopMs: 1000,
          jsmpegKbps: 800,
          maxViewerBufferBytes: 1_000_000,
          badMediaBackoffMs: 30_000,
        } satisfies RelayOptions,
        pino({ level: 'silent' }),
        () => {},
      );
      relay.start();
      await vi.advanceTimersByTimeAsync(180_000);
      // Four failed starts, then the watchdog's restarts: enough for restarts to overlap.
      expect(gateway.starts()).toBeGreaterThanOrEqual(5);
      expect(gateway.mostOpen()).toBe(1);
      await relay.stop();
      expect([...gateway.open]).toEqual([]);
    },
  );

  it('starting again closes the session still open, at the hub and at the gateway', async () => {
    const gateway = fakeGateway(0);
    const source = new PushSource(gateway.channel, 'main');
    const relay = {} as Relay;
    await source.start(relay);
    const first = source.sessionId as string;
    await source.start(relay);
    expect(source.sessionId).not.toBe(first);
    expect([...gateway.open]).toEqual([source.sessionId]);
    expect(gateway.stopped).toEqual([first]);
    await source.stop();
    expect([...gateway.open]).toEqual([]);
  });
});
