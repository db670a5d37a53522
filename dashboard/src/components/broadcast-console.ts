/**
 * The broadcast console (广播): choose loudspeakers on the map (click a speaker, draw a box, or pick
 * a village or a zone, or all), say something (type text for text-to-speech, pick or upload a clip,
 * or hold to talk), choose the priority and repeats (and a time, optionally daily), send. Every
 * speaker's delivery shows live; recent broadcasts are listed and can be sent again. Each speaker's
 * coverage is a circle on the map, the chosen ones highlighted.
 */
import {
  type BroadcastView,
  type ClipView,
  type DeviceView,
  PRIORITIES,
  type Priority,
  TALK_SAMPLE_RATE,
  talkSocketProtocols,
} from '@qianliyan/protocols';
import L from 'leaflet';
import { type Answer, get, getToken, post } from '../api.ts';
import { escapeHtml } from '../html.ts';
import { t } from '../i18n.ts';

const STATE_CLASS: Record<string, string> = {
  sending: 'pending',
  queued: 'pending',
  started: 'live',
  finished: 'ok',
  interrupted: 'warn',
  failed: 'bad',
};

export class BroadcastConsole {
  private readonly selected = new Set<string>();
  private readonly circles = L.layerGroup();
  private current: BroadcastView | undefined;
  private history: BroadcastView[] = [];
  private boxMode = false;
  private talk: { ws: WebSocket; ctx: AudioContext; stream: MediaStream; id: string } | undefined;
  /** For tests: bytes of microphone audio sent in the last talk. */
  talkBytes = 0;

  constructor(
    private readonly root: HTMLElement,
    private readonly map: L.Map,
    private readonly devices: () => Map<string, DeviceView>,
    onBroadcast: (listener: (b: BroadcastView) => void) => () => void,
  ) {
    root.classList.add('broadcast-console');
    this.render();
    onBroadcast((b) => this.onUpdate(b));
  }

  /** The language changed: every text again (the form's choices are kept by the render). */
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
      .sort((a, b) => a.key.localeCompare(b.key, 'zh-CN', { numeric: true }));
  }

  private el<T extends HTMLElement>(role: string): T {
    return this.root.querySelector(`[data-role=${role}]`) as T;
  }

  private render(): void {
    this.root.innerHTML = `
      <h2>${t('broadcastTitle')}</h2>
      <section class="bc-targets">
        <div class="bc-row">
          <button type="button" data-role="box">${t('broadcastBox')}</button>
          <select data-role="by-site"><option value="">${t('broadcastBySite')}</option></select>
          <select data-role="by-zone"><option value="">${t('broadcastByZone')}</option></select>
          <button type="button" data-role="all">${t('broadcastAll')}</button>
          <button type="button" data-role="clear">${t('broadcastClear')}</button>
        </div>
        <div class="bc-chosen" data-role="chosen"></div>
      </section>
      <section class="bc-content">
        <div class="bc-tabs" data-role="tabs">
          <button type="button" data-tab="tts" class="active">${t('broadcastText')}</button>
          <button type="button" data-tab="clip">${t('broadcastClip')}</button>
          <button type="button" data-tab="talk">${t('broadcastTalk')}</button>
        </div>
        <div data-pane="tts"><textarea data-role="text" rows="3" maxlength="500" placeholder="${escapeHtml(t('broadcastTextHint'))}"></textarea>
          <select data-role="lang"><option value="zh">普通话</option><option value="en">English</option></select></div>
        <div data-pane="clip" hidden><select data-role="clip"></select>
          <label class="bc-upload">${t('broadcastUpload')} <input type="file" data-role="file" accept="audio/wav,audio/mpeg,audio/ogg,.wav,.mp3,.ogg"></label></div>
        <div data-pane="talk" hidden><button type="button" class="bc-ptt" data-role="ptt">${t('broadcastHold')}</button></div>
      </section>
      <section class="bc-options">
        <label>${t('broadcastPriority')} <select data-role="priority">
          ${[...PRIORITIES]
            .reverse()
            .map(
              (p) =>
                `<option value="${p}" ${p === 'notice' ? 'selected' : ''}>${t(`priority_${p}` as 'priority_notice')}</option>`,
            )
            .join('')}
        </select></label>
        <label>${t('broadcastRepeat')} <input type="number" data-role="repeat" min="1" max="10" value="1"></label>
        <label>${t('broadcastAt')} <input type="datetime-local" data-role="at"></label>
        <label><input type="checkbox" data-role="daily"> ${t('broadcastDaily')}</label>
        <button type="button" class="primary" data-role="send">${t('broadcastSend')}</button>
      </section>
      <div class="bc-message" data-role="message"></div>
      <h3>${t('broadcastDelivery')}</h3>
      <ul class="bc-delivery" data-role="delivery"></ul>
      <h3>${t('broadcastHistory')}</h3>
      <ul class="bc-history" data-role="history"></ul>`;
    this.el('tabs').addEventListener('click', (ev) => {
      const tab = (ev.target as HTMLElement).closest<HTMLElement>('[data-tab]')?.dataset.tab;
      if (!tab) return;
      for (const b of this.root.querySelectorAll<HTMLElement>('[data-tab]'))
        b.classList.toggle('active', b.dataset.tab === tab);
      for (const p of this.root.querySelectorAll<HTMLElement>('[data-pane]'))
        p.hidden = p.dataset.pane !== tab;
      this.el('send').hidden = tab === 'talk';
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
    this.el('box').addEventListener('click', () => this.startBox());
    this.el('send').addEventListener('click', () => void this.send());
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
    this.el('history').addEventListener('click', (ev) => {
      const id = (ev.target as HTMLElement).closest<HTMLElement>('[data-replay]')?.dataset.replay;
      if (id) void this.replay(id);
    });
  }

  /** Redraws the choices, the chosen speakers and the coverage circles. */
  refresh(): void {
    const speakers = this.speakers();
    const sites = [...new Set(speakers.map((d) => d.site))].sort();
    const zones = [...new Set(speakers.flatMap((d) => d.zones ?? []))].sort();
    this.el('by-site').innerHTML =
      `<option value="">${t('broadcastBySite')}</option>${sites.map((s) => `<option>${escapeHtml(s)}</option>`).join('')}`;
    this.el('by-zone').innerHTML =
      `<option value="">${t('broadcastByZone')}</option>${zones.map((z) => `<option>${escapeHtml(z)}</option>`).join('')}`;
    for (const k of [...this.selected]) if (!this.devices().has(k)) this.selected.delete(k);
    this.el('chosen').innerHTML = this.selected.size
      ? [...this.selected]
          .map((k) => {
            const d = this.devices().get(k);
            return `<span class="chip" data-key="${escapeHtml(k)}">${escapeHtml(d?.name ?? k)} · ${escapeHtml(d?.site ?? '')}</span>`;
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
    const priority = this.el<HTMLSelectElement>('priority').value as Priority;
    const repeat = Number(this.el<HTMLInputElement>('repeat').value) || 1;
    const atText = this.el<HTMLInputElement>('at').value;
    const at = atText ? new Date(atText).getTime() : undefined;
    const daily = this.el<HTMLInputElement>('daily').checked;
    return { priority, repeat, ...(at ? { schedule: { at, ...(daily ? { daily: true } : {}) } } : {}) };
  }

  private message(text: string, bad = false): void {
    const el = this.el('message');
    el.textContent = text;
    el.classList.toggle('bad', bad);
  }

  private async send(): Promise<void> {
    if (this.selected.size === 0) return this.message(t('broadcastPickHint'), true);
    const tab = this.root.querySelector<HTMLElement>('[data-tab].active')?.dataset.tab;
    let content: unknown;
    if (tab === 'tts') {
      const text = this.el<HTMLTextAreaElement>('text').value.trim();
      if (!text) return this.message(t('broadcastTextHint'), true);
      content = { tts: { text, lang: this.el<HTMLSelectElement>('lang').value } };
    } else {
      const hash = this.el<HTMLSelectElement>('clip').value;
      if (!hash) return this.message(t('broadcastUpload'), true);
      content = { clip: { hash } };
    }
    try {
      const b = await post('/api/broadcasts', {
        body: { targets: { speakers: [...this.selected] }, content, ...this.options() },
      });
      this.current = b;
      this.message(b.state === 'scheduled' ? t('broadcastScheduled') : t('broadcastSent'));
      this.renderDelivery();
      void this.loadHistory();
    } catch (err) {
      this.message((err as Error).message, true);
    }
  }

  private async replay(id: string): Promise<void> {
    try {
      this.current = await post('/api/broadcasts/:id/replay', { params: { id } });
      this.message(t('broadcastSent'));
      this.renderDelivery();
      void this.loadHistory();
    } catch (err) {
      this.message((err as Error).message, true);
    }
  }

  private async upload(file: File | undefined): Promise<void> {
    if (!file) return;
    this.message(t('broadcastUploading'));
    const res = await fetch(`/api/clips?name=${encodeURIComponent(file.name)}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${getToken()}`,
        'content-type': file.type || 'application/octet-stream',
      },
      body: file,
    });
    // Raw audio, not JSON, so not through the typed client; the answer is typed all the same.
    const body = (await res.json().catch(() => ({}))) as Partial<Answer<'POST', '/api/clips'>> & {
      message?: string;
    };
    if (!res.ok) return this.message(body.message ?? res.statusText, true);
    await this.loadClips();
    this.el<HTMLSelectElement>('clip').value = body.hash as string;
    this.message(t('broadcastUploaded'));
  }

  private async loadClips(): Promise<void> {
    const clips = await get('/api/clips').catch(() => [] as ClipView[]);
    const sel = this.el<HTMLSelectElement>('clip');
    const value = sel.value;
    sel.innerHTML = clips
      .map(
        (c) =>
          `<option value="${c.hash}">${escapeHtml(c.name)} (${Math.round(c.durationMs / 100) / 10} s)</option>`,
      )
      .join('');
    if (value) sel.value = value;
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

  private renderDelivery(): void {
    const b = this.current;
    this.el('delivery').innerHTML = b
      ? Object.entries(b.speakers)
          .map(([k, s]) => {
            const d = this.devices().get(k);
            return `<li data-key="${escapeHtml(k)}" data-state="${s.state}"><span class="dot ${STATE_CLASS[s.state] ?? ''}"></span>${escapeHtml(d?.name ?? k)} · ${t(`delivery_${s.state}` as 'delivery_finished')}${s.durationMs ? ` · ${Math.round(s.durationMs / 100) / 10} s` : ''}${s.reason ? ` · ${escapeHtml(s.reason)}` : ''}</li>`;
          })
          .join('')
      : '';
  }

  private renderHistory(): void {
    this.el('history').innerHTML = this.history
      .slice(0, 20)
      .map((b) => {
        const c = b.content as { tts?: { text: string }; clip?: { hash: string }; live?: unknown };
        const what = c.tts
          ? c.tts.text
          : c.clip
            ? `[${t('broadcastClip')}] ${c.clip.hash.slice(0, 8)}`
            : `[${t('broadcastTalk')}]`;
        const states = Object.values(b.speakers).map((s) => s.state);
        const ok = states.filter((s) => s === 'finished').length;
        return `<li data-id="${b.id}"><span class="prio prio-${b.priority}">${t(`priority_${b.priority}` as 'priority_notice')}</span>
          ${escapeHtml(what.slice(0, 40))} <span class="muted">${new Date(b.createdAt).toLocaleString()} · ${escapeHtml(b.createdBy)} · ${ok}/${states.length} ${t('delivery_finished')} · ${t(`bstate_${b.state}` as 'bstate_done')}</span>
          ${c.live ? '' : `<button type="button" class="link" data-replay="${b.id}">${t('broadcastReplay')}</button>`}</li>`;
      })
      .join('');
  }

  /** Hold to talk: the microphone at 16 kHz as 16-bit PCM to the hub, until released. */
  private async startTalk(): Promise<void> {
    if (this.talk || this.selected.size === 0) {
      if (this.selected.size === 0) this.message(t('broadcastPickHint'), true);
      return;
    }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true },
      });
      const b = await post('/api/broadcasts', {
        body: {
          targets: { speakers: [...this.selected] },
          content: { live: {} },
          priority: this.options().priority,
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
      this.el('ptt').classList.add('talking');
      this.message(t('broadcastTalking'));
    } catch (err) {
      this.message((err as Error).message, true);
    }
  }

  private stopTalk(): void {
    const talk = this.talk;
    if (!talk) return;
    this.talk = undefined;
    talk.ws.close();
    void talk.ctx.close();
    for (const track of talk.stream.getTracks()) track.stop();
    this.el('ptt').classList.remove('talking');
    this.message(t('broadcastSent'));
    void this.loadHistory();
  }

  /** For tests. */
  state() {
    return {
      selected: [...this.selected],
      current: this.current,
      talking: Boolean(this.talk),
      talkBytes: this.talkBytes,
      circles: this.circles.getLayers().length,
    };
  }
}
