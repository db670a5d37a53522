/**
 * The broadcast console (广播): choose loudspeakers on the map (click a speaker, draw a box, or pick
 * a village or a zone, or all), say something (type text for text-to-speech, pick or upload a clip,
 * or hold to talk — the priority it will go out at is said before the microphone opens), choose the
 * priority and repeats (and a time, optionally daily), send. Every speaker's delivery shows live,
 * and a broadcast can be stopped everywhere or on one speaker; recent broadcasts are listed and can
 * be sent again or stopped. Each speaker's coverage is a circle on the map, the chosen ones
 * highlighted.
 *
 * The console's state (choices, typed text, tab, options, the broadcast on screen, the history) lives
 * in this object; the DOM is drawn from it, so a language switch redraws every word and loses
 * nothing.
 */
import {
  type BroadcastView,
  type ClipView,
  type DeviceView,
  MAX_TTS_CHARS,
  PRIORITIES,
  type Priority,
  TALK_SAMPLE_RATE,
  talkSocketProtocols,
} from '@qianliyan/protocols';
import L from 'leaflet';
import { get, getToken, post } from '../api.ts';
import { errorText } from '../error-messages.ts';
import { escapeHtml } from '../html.ts';
import { errorMessage, getLang, t, zoneLabel } from '../i18n.ts';
import { counterSlot, errorSlot, showFieldError, watchCounters } from './form-feedback.ts';

type Tab = 'tts' | 'clip' | 'talk';

const STATE_CLASS: Record<string, string> = {
  sending: 'pending',
  queued: 'pending',
  started: 'live',
  finished: 'ok',
  unconfirmed: 'warn',
  interrupted: 'warn',
  failed: 'bad',
};
/** A speaker still sending, queued or playing can be stopped. */
const STOPPABLE = new Set(['sending', 'queued', 'started']);

export class BroadcastConsole {
  private readonly selected = new Set<string>();
  private readonly circles = L.layerGroup();
  private current: BroadcastView | undefined;
  private history: BroadcastView[] = [];
  private clips: ClipView[] = [];
  private boxMode = false;
  private talk: { ws: WebSocket; ctx: AudioContext; stream: MediaStream; id: string } | undefined;
  /** What the form holds (kept across redraws). */
  private form = {
    tab: 'tts' as Tab,
    text: '',
    lang: 'zh',
    clip: '',
    priority: 'notice' as Priority,
    repeat: '1',
    at: '',
    daily: false,
  };
  /** The last message, as a function so that a language switch words it again. */
  private note: { text: () => string; bad: boolean } = { text: () => '', bad: false };
  /** Bytes of microphone audio sent in the last talk. */
  talkBytes = 0;

  constructor(
    private readonly root: HTMLElement,
    private readonly map: L.Map,
    private readonly devices: () => Map<string, DeviceView>,
    onBroadcast: (listener: (b: BroadcastView) => void) => () => void,
    private readonly siteName: (id: string) => string,
  ) {
    root.classList.add('broadcast-console');
    this.render();
    onBroadcast((b) => this.onUpdate(b));
  }

  /** The language changed: every word again; choices, typed text and lists are kept. */
  relabel(): void {
    this.render();
  }

  /** Shown or hidden with the broadcast mode: circles on the map only meanwhile. */
  setActive(active: boolean): void {
    if (active) {
      this.circles.addTo(this.map);
      this.refresh();
      void this.loadHistory();
      void this.loadClips();
    } else this.circles.remove();
  }

  /** A speaker clicked on the map. */
  toggle(key: string): void {
    if (this.selected.has(key)) this.selected.delete(key);
    else this.selected.add(key);
    this.refresh();
  }

  private speakers(): DeviceView[] {
    return [...this.devices().values()]
      .filter((d) => d.kind === 'speaker')
      .sort((a, b) => a.name.localeCompare(b.name, 'zh-CN', { numeric: true }));
  }

  private el<T extends HTMLElement>(role: string): T {
    return this.root.querySelector(`[data-role=${role}]`) as T;
  }

  private render(): void {
    const f = this.form;
    const talkLabel = t('broadcastHoldAt', { priority: t(`priority_${f.priority}` as 'priority_notice') });
    this.root.innerHTML = `
      <h2>${t('broadcastTitle')}</h2>
      <section class="bc-targets" aria-label="${t('broadcastTargets')}">
        <div class="bc-row">
          <button type="button" data-role="box">${t('broadcastBox')}</button>
          <select data-role="by-site" aria-label="${t('broadcastBySite')}"></select>
          <select data-role="by-zone" aria-label="${t('broadcastByZone')}"></select>
          <button type="button" data-role="all">${t('broadcastAll')}</button>
          <button type="button" data-role="clear">${t('broadcastClear')}</button>
        </div>
        <div class="bc-chosen" data-role="chosen"></div>
      </section>
      <form class="bc-form" data-role="form" novalidate>
        <div class="bc-tabs" data-role="tabs" role="tablist" aria-label="${t('broadcastContent')}">
          ${(['tts', 'clip', 'talk'] as const)
            .map(
              (tab) =>
                `<button type="button" role="tab" id="bc-tab-${tab}" data-tab="${tab}" aria-selected="${f.tab === tab}" aria-controls="bc-pane-${tab}" class="${f.tab === tab ? 'active' : ''}">${t(tab === 'tts' ? 'broadcastText' : tab === 'clip' ? 'broadcastClip' : 'broadcastTalk')}</button>`,
            )
            .join('')}
        </div>
        <div data-pane="tts" id="bc-pane-tts" role="tabpanel" aria-labelledby="bc-tab-tts" ${f.tab === 'tts' ? '' : 'hidden'}>
          <label class="bc-field">${t('broadcastTextHint')} ${counterSlot('text', MAX_TTS_CHARS)}
            <textarea name="text" data-role="text" rows="3">${escapeHtml(f.text)}</textarea>${errorSlot('text')}</label>
          <label>${t('broadcastVoice')} <select data-role="lang" name="lang">
            <option value="zh"${f.lang === 'zh' ? ' selected' : ''}>${t('voiceMandarin')}</option>
            <option value="en"${f.lang === 'en' ? ' selected' : ''}>${t('voiceEnglish')}</option></select></label>
        </div>
        <div data-pane="clip" id="bc-pane-clip" role="tabpanel" aria-labelledby="bc-tab-clip" ${f.tab === 'clip' ? '' : 'hidden'}>
          <label>${t('broadcastClip')} <select data-role="clip" name="clip"></select></label>
          <label class="bc-upload">${t('broadcastUpload')} <input type="file" data-role="file" accept="audio/wav,audio/mpeg,audio/ogg,.wav,.mp3,.ogg"></label>
          ${errorSlot('clip')}
        </div>
        <div data-pane="talk" id="bc-pane-talk" role="tabpanel" aria-labelledby="bc-tab-talk" ${f.tab === 'talk' ? '' : 'hidden'}>
          <p class="bc-talk-priority" data-role="talk-priority">${escapeHtml(
            t('broadcastTalkPriority', { priority: t(`priority_${f.priority}` as 'priority_notice') }),
          )}</p>
          <button type="button" class="bc-ptt prio-${f.priority}" data-role="ptt" aria-describedby="bc-ptt-help">${escapeHtml(talkLabel)}</button>
          <p class="muted" id="bc-ptt-help">${t('broadcastHoldKeys')}</p>
        </div>
        <div class="bc-options">
          <label>${t('broadcastPriority')} <select data-role="priority" name="priority">
            ${[...PRIORITIES]
              .reverse()
              .map(
                (p) =>
                  `<option value="${p}" ${p === f.priority ? 'selected' : ''}>${t(`priority_${p}` as 'priority_notice')}</option>`,
              )
              .join('')}
          </select></label>
          <label>${t('broadcastRepeat')} <input type="number" data-role="repeat" name="repeat" min="1" max="10" value="${escapeHtml(f.repeat)}"></label>
          <label>${t('broadcastAt')} <input type="datetime-local" data-role="at" name="at" value="${escapeHtml(f.at)}"></label>
          <label><input type="checkbox" data-role="daily" name="daily"${f.daily ? ' checked' : ''}> ${t('broadcastDaily')}</label>
          <button type="submit" class="primary" data-role="send" ${f.tab === 'talk' ? 'hidden' : ''}>${t('broadcastSend')}</button>
        </div>
        ${errorSlot('*')}
      </form>
      <div class="bc-message" data-role="message" role="status"></div>
      <div class="bc-current" data-role="current"></div>
      <h3>${t('broadcastHistory')}</h3>
      <ul class="bc-history" data-role="history"></ul>`;
    const form = this.el<HTMLFormElement>('form');
    watchCounters(form);
    form.addEventListener('input', () => this.readForm());
    form.addEventListener('change', () => {
      this.readForm();
      this.showTalkPriority();
    });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.send();
    });
    this.el('tabs').addEventListener('click', (ev) => {
      const tab = (ev.target as HTMLElement).closest<HTMLElement>('[data-tab]')?.dataset.tab as
        | Tab
        | undefined;
      if (tab) this.setTab(tab);
    });
    this.el('tabs').addEventListener('keydown', (ev) => {
      // Tabs: the arrow keys move between them (WAI-ARIA tabs pattern).
      if (ev.key !== 'ArrowRight' && ev.key !== 'ArrowLeft') return;
      const order: Tab[] = ['tts', 'clip', 'talk'];
      const at = order.indexOf(this.form.tab);
      const next = order[(at + (ev.key === 'ArrowRight' ? 1 : order.length - 1)) % order.length] as Tab;
      this.setTab(next);
      this.root.querySelector<HTMLElement>(`[data-tab=${next}]`)?.focus();
    });
    this.el('by-site').addEventListener('change', (ev) => {
      const site = (ev.target as HTMLSelectElement).value;
      for (const d of this.speakers()) if (d.site === site) this.selected.add(d.key);
      (ev.target as HTMLSelectElement).value = '';
      this.refresh();
    });
    this.el('by-zone').addEventListener('change', (ev) => {
      const zone = (ev.target as HTMLSelectElement).value;
      for (const d of this.speakers()) if (d.zones?.includes(zone)) this.selected.add(d.key);
      (ev.target as HTMLSelectElement).value = '';
      this.refresh();
    });
    this.el('all').addEventListener('click', () => {
      for (const d of this.speakers()) this.selected.add(d.key);
      this.refresh();
    });
    this.el('clear').addEventListener('click', () => {
      this.selected.clear();
      this.refresh();
    });
    this.el('chosen').addEventListener('click', (ev) => {
      const key = (ev.target as HTMLElement).closest<HTMLElement>('[data-unchoose]')?.dataset.unchoose;
      if (key) this.toggle(key);
    });
    this.el('box').addEventListener('click', () => this.startBox());
    this.el('file').addEventListener(
      'change',
      (ev) => void this.upload((ev.target as HTMLInputElement).files?.[0]),
    );
    const ptt = this.el('ptt');
    ptt.addEventListener('pointerdown', (ev) => {
      ptt.setPointerCapture(ev.pointerId);
      void this.startTalk();
    });
    ptt.addEventListener('pointerup', () => this.stopTalk());
    ptt.addEventListener('pointercancel', () => this.stopTalk());
    // Hold Space (or Enter) on the button to talk, as with the mouse; released, the talk ends.
    ptt.addEventListener('keydown', (ev) => {
      if ((ev.key === ' ' || ev.key === 'Enter') && !ev.repeat) {
        ev.preventDefault();
        void this.startTalk();
      }
    });
    ptt.addEventListener('keyup', (ev) => {
      if (ev.key === ' ' || ev.key === 'Enter') {
        ev.preventDefault();
        this.stopTalk();
      }
    });
    ptt.addEventListener('blur', () => this.stopTalk());
    this.root.addEventListener('click', (ev) => {
      const target = ev.target as HTMLElement;
      const replay = target.closest<HTMLElement>('[data-replay]')?.dataset.replay;
      if (replay) return void this.replay(replay);
      const cancel = target.closest<HTMLElement>('[data-cancel]')?.dataset.cancel;
      if (cancel) return void this.cancel(cancel);
      const stop = target.closest<HTMLElement>('[data-stop-speaker]');
      if (stop) void this.stopSpeaker(stop.dataset.broadcast as string, stop.dataset.stopSpeaker as string);
    });
    this.fillClips();
    this.refresh();
    this.renderDelivery();
    this.renderHistory();
    this.showNote();
    if (this.talk) ptt.classList.add('talking');
  }

  private setTab(tab: Tab): void {
    this.form.tab = tab;
    for (const b of this.root.querySelectorAll<HTMLElement>('[data-tab]')) {
      b.classList.toggle('active', b.dataset.tab === tab);
      b.setAttribute('aria-selected', String(b.dataset.tab === tab));
    }
    for (const p of this.root.querySelectorAll<HTMLElement>('[data-pane]')) p.hidden = p.dataset.pane !== tab;
    this.el('send').hidden = tab === 'talk';
  }

  private readForm(): void {
    const f = this.form;
    f.text = this.el<HTMLTextAreaElement>('text').value;
    f.lang = this.el<HTMLSelectElement>('lang').value;
    f.clip = this.el<HTMLSelectElement>('clip').value;
    f.priority = this.el<HTMLSelectElement>('priority').value as Priority;
    f.repeat = this.el<HTMLInputElement>('repeat').value;
    f.at = this.el<HTMLInputElement>('at').value;
    f.daily = this.el<HTMLInputElement>('daily').checked;
  }

  /** Live talk says its priority before the microphone opens (and the button carries it). */
  private showTalkPriority(): void {
    const priority = t(`priority_${this.form.priority}` as 'priority_notice');
    this.el('talk-priority').textContent = t('broadcastTalkPriority', { priority });
    const ptt = this.el('ptt');
    if (!this.talk) ptt.textContent = t('broadcastHoldAt', { priority });
    ptt.className = `bc-ptt prio-${this.form.priority}${this.talk ? ' talking' : ''}`;
  }

  /** Redraws the choices, the chosen speakers and the coverage circles. */
  refresh(): void {
    const speakers = this.speakers();
    const collator = new Intl.Collator('zh-CN', { numeric: true });
    const sites = [...new Set(speakers.map((d) => d.site))].sort((a, b) =>
      collator.compare(this.siteName(a), this.siteName(b)),
    );
    const zones = [...new Set(speakers.flatMap((d) => d.zones ?? []))].sort();
    this.el('by-site').innerHTML =
      `<option value="">${t('broadcastBySite')}</option>${sites.map((s) => `<option value="${escapeHtml(s)}">${escapeHtml(this.siteName(s))}</option>`).join('')}`;
    this.el('by-zone').innerHTML =
      `<option value="">${t('broadcastByZone')}</option>${zones.map((z) => `<option value="${escapeHtml(z)}">${escapeHtml(zoneLabel(z))}</option>`).join('')}`;
    for (const k of [...this.selected]) if (!this.devices().has(k)) this.selected.delete(k);
    this.el('chosen').innerHTML = this.selected.size
      ? [...this.selected]
          .map((k) => {
            const d = this.devices().get(k);
            const name = `${d?.name ?? k} · ${this.siteName(d?.site ?? '')}`;
            return `<span class="chip" data-key="${escapeHtml(k)}">${escapeHtml(name)}<button type="button" class="icon" data-unchoose="${escapeHtml(k)}" aria-label="${escapeHtml(t('unchoose', { name }))}">✕</button></span>`;
          })
          .join('')
      : `<span class="muted">${t('broadcastPickHint')}</span>`;
    this.circles.clearLayers();
    for (const d of speakers) {
      const chosen = this.selected.has(d.key);
      L.circle([d.position.lat, d.position.lon], {
        radius: d.coverageM ?? 300,
        color: chosen ? '#f59e0b' : '#22d3ee',
        weight: chosen ? 2 : 1,
        fillOpacity: chosen ? 0.18 : 0.05,
        interactive: false,
      }).addTo(this.circles);
    }
  }

  /** Draw a box on the map: the speakers inside are chosen. */
  private startBox(): void {
    if (this.boxMode) return;
    this.boxMode = true;
    const container = this.map.getContainer();
    container.classList.add('box-select');
    this.map.dragging.disable();
    let start: L.LatLng | undefined;
    let rect: L.Rectangle | undefined;
    const down = (e: L.LeafletMouseEvent) => {
      start = e.latlng;
      rect = L.rectangle(L.latLngBounds(start, start), {
        color: '#f59e0b',
        weight: 1,
        interactive: false,
      }).addTo(this.map);
    };
    const move = (e: L.LeafletMouseEvent) => {
      if (start && rect) rect.setBounds(L.latLngBounds(start, e.latlng));
    };
    const up = (e: L.LeafletMouseEvent) => {
      if (start) {
        const bounds = L.latLngBounds(start, e.latlng);
        for (const d of this.speakers())
          if (bounds.contains([d.position.lat, d.position.lon])) this.selected.add(d.key);
      }
      rect?.remove();
      this.map.off('mousedown', down).off('mousemove', move).off('mouseup', up);
      this.map.dragging.enable();
      container.classList.remove('box-select');
      this.boxMode = false;
      this.refresh();
    };
    this.map.on('mousedown', down).on('mousemove', move).on('mouseup', up);
  }

  private options() {
    const f = this.form;
    const repeat = Math.min(10, Math.max(1, Number(f.repeat) || 1));
    const at = f.at ? new Date(f.at).getTime() : undefined;
    return {
      priority: f.priority,
      repeat,
      ...(at ? { schedule: { at, ...(f.daily ? { daily: true } : {}) } } : {}),
    };
  }

  private message(text: () => string, bad = false): void {
    this.note = { text, bad };
    this.showNote();
  }

  private showNote(): void {
    const el = this.el('message');
    el.textContent = this.note.text();
    el.classList.toggle('bad', this.note.bad);
  }

  private async send(): Promise<void> {
    this.readForm();
    const form = this.el<HTMLFormElement>('form');
    for (const el of form.querySelectorAll<HTMLElement>('[data-error-for]')) el.hidden = true;
    if (this.selected.size === 0) return this.message(() => t('broadcastPickHint'), true);
    let content: unknown;
    if (this.form.tab === 'tts') {
      const text = this.form.text.trim();
      if (!text) return showFieldError(form, 'text', t('broadcastTextMissing'));
      if ([...text].length > MAX_TTS_CHARS)
        return showFieldError(
          form,
          'text',
          errorText(
            {
              code: 'HUB_ERR_VALIDATION',
              detail: { field: 'text', reason: 'too_long', limit: MAX_TTS_CHARS },
            },
            getLang(),
          ),
        );
      content = { tts: { text, lang: this.form.lang } };
    } else {
      const hash = this.form.clip;
      if (!hash) return showFieldError(form, 'clip', t('broadcastClipMissing'));
      content = { clip: { hash } };
    }
    try {
      const b = await post('/api/broadcasts', {
        body: { targets: { speakers: [...this.selected] }, content, ...this.options() },
      });
      this.current = b;
      this.message(() => (b.state === 'scheduled' ? t('broadcastScheduled') : t('broadcastSent')));
      this.renderDelivery();
      void this.loadHistory();
    } catch (err) {
      this.message(() => errorMessage(err), true);
    }
  }

  private async replay(id: string): Promise<void> {
    try {
      this.current = await post('/api/broadcasts/:id/replay', { params: { id } });
      this.message(() => t('broadcastSent'));
      this.renderDelivery();
      void this.loadHistory();
    } catch (err) {
      this.message(() => errorMessage(err), true);
    }
  }

  /** Stops a broadcast on every speaker (a scheduled one never plays). */
  private async cancel(id: string): Promise<void> {
    try {
      const b = await post('/api/broadcasts/:id/cancel', { params: { id } });
      if (this.current?.id === id)
        this.current = { ...b, ...(this.current.talk ? { talk: this.current.talk } : {}) };
      if (this.talk?.id === id) this.stopTalk();
      this.onUpdate(b);
      this.message(() => t('broadcastStopped'));
    } catch (err) {
      this.message(() => errorMessage(err), true);
    }
  }

  /** Stops a broadcast on one speaker; the others play on. */
  private async stopSpeaker(id: string, key: string): Promise<void> {
    const name = this.devices().get(key)?.name ?? key;
    try {
      await post('/api/broadcasts/:id/speakers/:key/stop', { params: { id, key } });
      this.message(() => t('speakerStopping', { name }));
    } catch (err) {
      this.message(() => `${name}: ${errorMessage(err)}`, true);
    }
  }

  private async upload(file: File | undefined): Promise<void> {
    if (!file) return;
    this.message(() => t('broadcastUploading'));
    const res = await fetch(`/api/clips?name=${encodeURIComponent(file.name)}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${getToken()}`,
        'content-type': file.type || 'application/octet-stream',
      },
      body: file,
    }).catch(() => undefined);
    // Raw audio, not JSON, so not through the typed client; the answer is typed all the same.
    const body = (await res?.json().catch(() => ({}))) as Partial<ClipView> & { code?: string };
    if (!res?.ok) return this.message(() => errorMessage(body?.code ? { code: body.code } : undefined), true);
    await this.loadClips();
    this.form.clip = body.hash as string;
    this.fillClips();
    this.message(() => t('broadcastUploaded'));
  }

  private async loadClips(): Promise<void> {
    this.clips = await get('/api/clips').catch(() => this.clips);
    this.fillClips();
  }

  private fillClips(): void {
    const sel = this.el<HTMLSelectElement>('clip');
    sel.innerHTML = this.clips.length
      ? this.clips
          .map(
            (c) =>
              `<option value="${c.hash}">${escapeHtml(c.name)} (${Math.round(c.durationMs / 100) / 10} s)</option>`,
          )
          .join('')
      : `<option value="">${t('noClips')}</option>`;
    if (this.form.clip) sel.value = this.form.clip;
    this.form.clip = sel.value;
  }

  private async loadHistory(): Promise<void> {
    this.history = await get('/api/broadcasts', { query: { limit: 20 } }).catch(() => this.history);
    this.renderHistory();
  }

  private onUpdate(b: BroadcastView): void {
    if (this.current?.id === b.id) {
      this.current = { ...b, ...(this.current.talk ? { talk: this.current.talk } : {}) };
      this.renderDelivery();
    }
    const i = this.history.findIndex((h) => h.id === b.id);
    if (i >= 0) this.history[i] = b;
    else this.history.unshift(b);
    this.renderHistory();
  }

  /** A speaker's delivery in words: played, playing, stopped by an officer, refused by the hub… */
  private deliveryText(s: BroadcastView['speakers'][string]): string {
    const parts = [t(`delivery_${s.state}` as 'delivery_finished')];
    if (s.durationMs) parts.push(`${Math.round(s.durationMs / 100) / 10} s`);
    if (s.state === 'interrupted')
      parts.push(
        s.by === 'stop'
          ? t('deliveryStoppedByOfficer')
          : s.by === 'shutdown'
            ? t('deliveryShutdown')
            : t('deliveryPreempted'),
      );
    if (s.state === 'failed')
      parts.push(s.code ? errorMessage({ code: s.code }) : t('deliveryFailedAtSpeaker'));
    return parts.join(' · ');
  }

  private renderDelivery(): void {
    const b = this.current;
    const el = this.el('current');
    if (!b) {
      el.innerHTML = '';
      return;
    }
    const live = b.state === 'sending' || b.state === 'scheduled';
    el.innerHTML = `<h3>${t('broadcastDelivery')} · <span data-role="current-state">${t(`bstate_${b.state}` as 'bstate_done')}</span>
        ${live ? `<button type="button" class="danger" data-cancel="${b.id}">■ ${t('broadcastStopAll')}</button>` : ''}</h3>
      <ul class="bc-delivery" data-role="delivery">${Object.entries(b.speakers)
        .map(([k, s]) => {
          const d = this.devices().get(k);
          const name = d?.name ?? k;
          return `<li data-key="${escapeHtml(k)}" data-state="${s.state}"><span class="dot ${STATE_CLASS[s.state] ?? ''}" aria-hidden="true"></span>
            <span class="bc-speaker">${escapeHtml(name)}</span> · <span title="${escapeHtml(s.reason ?? '')}">${escapeHtml(this.deliveryText(s))}</span>
            ${live && STOPPABLE.has(s.state) ? `<button type="button" class="link" data-stop-speaker="${escapeHtml(k)}" data-broadcast="${b.id}" aria-label="${escapeHtml(t('stopOnSpeaker', { name }))}">■ ${t('stopSpeaker')}</button>` : ''}</li>`;
        })
        .join('')}</ul>`;
  }

  private renderHistory(): void {
    const locale = getLang() === 'zh' ? 'zh-CN' : 'en-GB';
    this.el('history').innerHTML = this.history
      .slice(0, 20)
      .map((b) => {
        const c = b.content as { tts?: { text: string }; clip?: { hash: string }; live?: unknown };
        const clip = c.clip ? this.clips.find((x) => x.hash === c.clip?.hash) : undefined;
        const what = c.tts
          ? c.tts.text
          : c.clip
            ? `[${t('broadcastClip')}] ${clip?.name ?? c.clip.hash.slice(0, 8)}`
            : `[${t('broadcastTalk')}]`;
        const states = Object.values(b.speakers).map((s) => s.state);
        const ok = states.filter((s) => s === 'finished').length;
        const live = b.state === 'sending' || b.state === 'scheduled';
        return `<li data-id="${b.id}"><span class="prio prio-${b.priority}">${t(`priority_${b.priority}` as 'priority_notice')}</span>
          <span class="bc-what">${escapeHtml([...what].slice(0, 40).join(''))}</span> <span class="muted">${new Date(b.createdAt).toLocaleString(locale, { hour12: false })} · ${escapeHtml(b.createdBy === 'linkage' ? t('actorSystem') : b.createdBy)} · ${t('deliveredCount', { ok, n: states.length })} · ${t(`bstate_${b.state}` as 'bstate_done')}</span>
          ${live ? `<button type="button" class="link danger" data-cancel="${b.id}">■ ${t('broadcastStopAll')}</button>` : ''}
          ${c.live ? '' : `<button type="button" class="link" data-replay="${b.id}">${t('broadcastReplay')}</button>`}</li>`;
      })
      .join('');
  }

  /** Hold to talk: the microphone at 16 kHz as 16-bit PCM to the hub, until released. */
  private async startTalk(): Promise<void> {
    if (this.talk || this.selected.size === 0) {
      if (this.selected.size === 0) this.message(() => t('broadcastPickHint'), true);
      return;
    }
    this.readForm();
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true },
      });
      const b = await post('/api/broadcasts', {
        body: {
          targets: { speakers: [...this.selected] },
          content: { live: {} },
          priority: this.form.priority,
        },
      });
      this.current = b;
      this.renderDelivery();
      const talk = b.talk as NonNullable<BroadcastView['talk']>;
      // The talk token is good only for this login session, which presents itself in the subprotocols.
      const ws = new WebSocket(
        `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${talk.path}?token=${encodeURIComponent(talk.token)}`,
        talkSocketProtocols(getToken() ?? ''),
      );
      ws.binaryType = 'arraybuffer';
      const ctx = new AudioContext({ sampleRate: TALK_SAMPLE_RATE });
      const source = ctx.createMediaStreamSource(stream);
      const processor = ctx.createScriptProcessor(1024, 1, 1);
      this.talkBytes = 0;
      processor.onaudioprocess = (e) => {
        if (ws.readyState !== WebSocket.OPEN) return;
        const input = e.inputBuffer.getChannelData(0);
        const pcm = new Int16Array(input.length);
        for (let i = 0; i < input.length; i++)
          pcm[i] = Math.max(-32768, Math.min(32767, Math.round((input[i] as number) * 32767)));
        ws.send(pcm.buffer);
        this.talkBytes += pcm.byteLength;
      };
      source.connect(processor);
      processor.connect(ctx.destination);
      this.talk = { ws, ctx, stream, id: b.id };
      const ptt = this.el('ptt');
      ptt.classList.add('talking');
      ptt.textContent = t('broadcastTalking');
      ptt.dataset.talking = 'true';
      this.message(() =>
        t('broadcastTalkingAt', { priority: t(`priority_${b.priority}` as 'priority_notice') }),
      );
    } catch (err) {
      this.message(() => (err instanceof DOMException ? t('callNoCamera') : errorMessage(err)), true);
    }
  }

  /** What no page shows (bytes of microphone sent, coverage circles drawn): the test build reads it. */
  state() {
    return {
      selected: [...this.selected],
      talking: Boolean(this.talk),
      talkBytes: this.talkBytes,
      circles: this.circles.getLayers().length,
    };
  }

  private stopTalk(): void {
    const talk = this.talk;
    if (!talk) return;
    this.talk = undefined;
    talk.ws.close();
    void talk.ctx.close();
    for (const track of talk.stream.getTracks()) track.stop();
    const ptt = this.el('ptt');
    delete ptt.dataset.talking;
    this.showTalkPriority();
    this.message(() => t('broadcastSent'));
    void this.loadHistory();
  }
}
