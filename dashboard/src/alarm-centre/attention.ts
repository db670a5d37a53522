/**
 * What makes an officer look up: a tone per severity when an alarm is raised, comes back or is
 * re-notified (Web Audio, tones.ts); the unacknowledged count in the page title and on the favicon;
 * a desktop notification while the tab is hidden (permission asked only on the officer's click, as
 * browsers require). Sound can be muted for ten minutes; the mute survives a reload.
 */
import type { AlarmView } from '@qianliyan/protocols';
import { severityLabel, t } from '../i18n.ts';
import { loudest, type SoundReason } from './alarm-display.ts';
import { playTone, toneOf } from './tones.ts';

const MUTE_KEY = 'qly.alarmMutedUntil';
export const MUTE_MS = 10 * 60_000;
/** Alarms arriving within this window make one tone (the loudest). */
const GATHER_MS = 150;

export class AlarmAttention {
  private audio: AudioContext | undefined;
  private pending: string[] = [];
  private gatherTimer = 0;
  private count = 0;
  private readonly favicon: HTMLLinkElement;
  private readonly originalIcon: string;
  private readonly wake = () => void this.context()?.resume();

  constructor() {
    let link = document.querySelector<HTMLLinkElement>('link[rel="icon"]');
    if (!link) {
      link = document.createElement('link');
      link.rel = 'icon';
      document.head.append(link);
    }
    this.favicon = link;
    this.originalIcon = link.href;
    // Browsers start audio only after a gesture on the page: the first one opens the context.
    window.addEventListener('pointerdown', this.wake, { capture: true });
    window.addEventListener('keydown', this.wake, { capture: true });
  }

  /** Epoch ms until which sound is muted (0: not muted). */
  get mutedUntil(): number {
    const until = Number(localStorage.getItem(MUTE_KEY) ?? 0);
    return until > Date.now() ? until : 0;
  }

  mute(ms = MUTE_MS): void {
    localStorage.setItem(MUTE_KEY, String(Date.now() + ms));
  }

  unmute(): void {
    localStorage.removeItem(MUTE_KEY);
  }

  /** An alarm to be heard (and seen, when the tab is hidden). */
  alert(alarm: AlarmView, reason: SoundReason, what: string): void {
    if (!this.mutedUntil) {
      this.pending.push(alarm.severity);
      if (!this.gatherTimer) this.gatherTimer = window.setTimeout(() => this.sound(), GATHER_MS);
    }
    this.notify(alarm, reason, what);
  }

  /** The unacknowledged count, in the title and on the favicon. */
  setCount(n: number): void {
    this.count = n;
    this.refresh();
  }

  /** Redraws the title (after a language switch reset it) and the favicon. */
  refresh(): void {
    const n = this.count;
    document.title = n > 0 ? `${t('titleUnacked', { n })}${t('appTitle')}` : t('appTitle');
    this.favicon.href = n > 0 ? badgeIcon(n) : this.originalIcon;
  }

  /** The permission for desktop notifications: asked on the officer's click only. */
  get notificationState(): 'granted' | 'denied' | 'default' | 'unsupported' {
    return typeof Notification === 'undefined' ? 'unsupported' : Notification.permission;
  }

  async requestNotifications(): Promise<void> {
    if (typeof Notification === 'undefined' || Notification.permission !== 'default') return;
    await Notification.requestPermission();
  }

  dispose(): void {
    window.clearTimeout(this.gatherTimer);
    window.removeEventListener('pointerdown', this.wake, { capture: true });
    window.removeEventListener('keydown', this.wake, { capture: true });
    void this.audio?.close().catch(() => undefined);
    document.title = t('appTitle');
    this.favicon.href = this.originalIcon;
  }

  private context(): AudioContext | undefined {
    if (!this.audio && typeof AudioContext !== 'undefined') this.audio = new AudioContext();
    return this.audio;
  }

  private sound(): void {
    this.gatherTimer = 0;
    const severity = loudest(this.pending.splice(0));
    const tone = severity ? toneOf(severity) : undefined;
    const ctx = this.context();
    if (!tone || !ctx || this.mutedUntil) return;
    void ctx.resume().catch(() => undefined);
    playTone(ctx, tone);
  }

  private notify(alarm: AlarmView, reason: SoundReason, what: string): void {
    if (document.visibilityState !== 'hidden' || this.notificationState !== 'granted') return;
    try {
      const n = new Notification(t('notifyTitle', { sev: severityLabel(alarm.severity), what }), {
        body: reason === 'renotified' ? t('notifyRenotified') : '',
        tag: `qly-alarm-${alarm.id}`,
        requireInteraction: alarm.severity === 'critical',
      });
      n.onclick = () => {
        window.focus();
        n.close();
      };
    } catch (err) {
      // (A browser without the constructor, e.g. on Android, has only service-worker notifications.)
      console.warn('notification not shown', err);
    }
  }
}

/** The favicon with the count on a red badge (an SVG data URL: no request, allowed by the CSP). */
export function badgeIcon(n: number): string {
  const text = n > 99 ? '99+' : String(n);
  const size = text.length > 2 ? 7 : 9;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="8" fill="#dc2626"/><text x="8" y="11.5" font-family="sans-serif" font-weight="700" font-size="${size}" text-anchor="middle" fill="#fff">${text}</text></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}
