/**
 * Video calls (WebRTC, signalling through the hub's socket): an incoming call rings (an overlay
 * with the caller, accept / decline, and a tone); an active call shows every participant's video, the
 * local preview, a camera's live view when someone shares one, and a hang-up button.
 *
 * A mesh of up to four: whoever joins offers to everyone already in the call, so two sides never
 * offer to each other at once. ICE servers come from the hub (none on a LAN).
 */
import type { CallSignal, CallView } from '@qianliyan/protocols';
import { get } from '../api.ts';
import { escapeHtml } from '../html.ts';
import { errorMessage, getLang, t } from '../i18n.ts';
import type { CallChannel } from '../live-store.ts';
import { preferredFormat, StreamClient } from '../video/stream-client.ts';

interface Peer {
  pc: RTCPeerConnection;
  tile: HTMLElement;
  video: HTMLVideoElement;
  username: string;
}

export interface CallTarget {
  sites?: string[];
  commandRoom?: boolean;
  incident?: number;
}

export class CallPanel {
  private call: CallView | undefined;
  private ringing: CallView | undefined;
  private local: MediaStream | undefined;
  private readonly peers = new Map<string, Peer>();
  private iceServers: RTCIceServer[] = [];
  private camera: { key: string; client: StreamClient } | undefined;
  private tone: { ctx: AudioContext; timer: number } | undefined;
  private readonly offs: Array<() => void>;
  /** Calls seen end here, newest first. */
  readonly ended: CallView[] = [];
  /** The "last call" card is shown until the officer closes it (or another call comes). */
  private lastShown = false;
  startedAt = 0;

  constructor(
    private readonly root: HTMLElement,
    private readonly socket: CallChannel,
    private readonly me: { username: string },
    private readonly names: {
      site: (id: string) => string;
      cameras: () => Array<{ key: string; name: string }>;
    },
  ) {
    root.classList.add('call-panel');
    root.hidden = true;
    root.innerHTML = `<div class="call-head" role="status" aria-live="assertive" data-role="call-head"></div>
      <div class="call-actions" data-role="call-actions"></div>
      <div class="call-grid"><div class="call-videos" data-role="call-videos"></div>
        <div class="call-camera" data-role="call-camera-view" hidden></div>
        <video class="call-self" data-role="call-self" autoplay muted playsinline></video></div>
      <p class="call-msg" data-role="call-msg" role="status"></p>`;
    void get('/api/calls/config')
      .then((c) => {
        this.iceServers = c.iceServers;
      })
      .catch(() => undefined);
    this.offs = [
      socket.on('call:ring', (call) => this.onRing(call)),
      socket.on('call:update', (call) => this.onUpdate(call)),
      socket.on('call:signal', (s) => void this.onSignal(s.call, s.from, s.data)),
      socket.on('call:error', (e) => this.flash(() => `${t('callFailed')}: ${errorMessage(e)}`)),
    ];
    root.addEventListener('click', (ev) => {
      const action = (ev.target as HTMLElement).closest<HTMLElement>('[data-call]')?.dataset.call;
      if (action === 'accept') void this.accept();
      else if (action === 'decline') this.decline();
      else if (action === 'hangup') this.hangup();
      else if (action === 'dismiss') {
        this.lastShown = false;
        this.flash(() => '');
        this.render();
      }
    });
    root.addEventListener('change', (ev) => {
      const el = ev.target as HTMLSelectElement;
      if (el.dataset.role === 'call-camera') this.shareCamera(el.value || null);
    });
  }

  /** Places a call; resolves once the hub has it ringing. */
  async start(target: CallTarget): Promise<CallView> {
    if (this.call) throw new Error(t('callBusy'));
    this.startedAt = performance.now();
    this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    const reply = await new Promise<{ call?: CallView; error?: { code: string; message: string } }>(
      (resolve) => this.socket.emit('call:start', target, resolve),
    );
    if (!reply.call) {
      this.stopLocal();
      throw Object.assign(new Error(reply.error?.message ?? t('callFailed')), {
        code: reply.error?.code ?? 'HUB_ERR_INTERNAL',
      });
    }
    this.call = reply.call;
    this.lastShown = false;
    this.render();
    return reply.call;
  }

  /** Shows a camera inside the current call (null: none) for every participant. */
  shareCamera(key: string | null): void {
    if (this.call) this.socket.emit('call:camera', { call: this.call.id, camera: key });
  }

  /** What the call looks like now (tests and the benchmark read it). */
  async status(): Promise<{
    call: CallView | undefined;
    ringing: CallView | undefined;
    peers: Array<{ username: string; state: string; framesDecoded: number }>;
  }> {
    const peers = [];
    for (const p of this.peers.values()) {
      let framesDecoded = 0;
      const stats = await p.pc.getStats();
      stats.forEach((s: { type: string; kind?: string; framesDecoded?: number }) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') framesDecoded += s.framesDecoded ?? 0;
      });
      peers.push({ username: p.username, state: p.pc.connectionState, framesDecoded });
    }
    return { call: this.call, ringing: this.ringing, peers };
  }

  private onRing(call: CallView): void {
    if (this.call) return; // busy: it keeps ringing elsewhere
    this.ringing = call;
    this.startTone();
    this.render();
  }

  private async accept(): Promise<void> {
    const call = this.ringing;
    if (!call) return;
    this.stopTone();
    this.ringing = undefined;
    this.startedAt = performance.now();
    try {
      this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    } catch {
      this.flash(() => t('callNoCamera'));
      return;
    }
    this.call = call;
    this.socket.emit('call:accept', { call: call.id });
    this.render();
  }

  private decline(): void {
    if (!this.ringing) return;
    this.socket.emit('call:decline', { call: this.ringing.id });
    this.ringing = undefined;
    this.stopTone();
    this.render();
  }

  hangup(): void {
    if (!this.call) return;
    this.socket.emit('call:hangup', { call: this.call.id });
    this.teardown(this.call);
  }

  private onUpdate(call: CallView): void {
    if (this.ringing?.id === call.id) {
      // Given up or over: stop ringing here. (Answered by someone else, it may still be joined.)
      if (call.state === 'ended' || call.state === 'missed' || call.state === 'declined') {
        this.ringing = undefined;
        this.stopTone();
        this.render();
      }
      return;
    }
    if (this.call?.id !== call.id) return;
    if (call.state === 'ended' || call.state === 'missed' || call.state === 'declined') {
      this.teardown(call);
      return;
    }
    this.call = call;
    const mine = call.participants.findIndex((p) => p.socket === this.socket.id);
    // Whoever joined later offers to those already there.
    call.participants.forEach((p, i) => {
      if (p.socket === this.socket.id || this.peers.has(p.socket)) return;
      if (mine >= 0 && i < mine) void this.offer(p.socket, p.username);
    });
    for (const [socketId, peer] of this.peers)
      if (!call.participants.some((p) => p.socket === socketId)) {
        peer.pc.close();
        peer.tile.remove();
        this.peers.delete(socketId);
      }
    this.showCamera(call.camera);
    this.render();
  }

  private peer(socketId: string, username: string): Peer {
    const existing = this.peers.get(socketId);
    if (existing) return existing;
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    for (const track of this.local?.getTracks() ?? []) pc.addTrack(track, this.local as MediaStream);
    const tile = document.createElement('figure');
    tile.className = 'call-tile';
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    const caption = document.createElement('figcaption');
    caption.textContent = username;
    tile.append(video, caption);
    pc.ontrack = (ev) => {
      video.srcObject = ev.streams[0] ?? new MediaStream([ev.track]);
    };
    pc.onicecandidate = (ev) => {
      if (this.call)
        this.socket.emit('call:signal', {
          call: this.call.id,
          to: socketId,
          // Exactly the fields the hub relays (each bounded in protocols' CallSignal).
          data: {
            candidate: ev.candidate
              ? {
                  candidate: ev.candidate.candidate,
                  sdpMid: ev.candidate.sdpMid,
                  sdpMLineIndex: ev.candidate.sdpMLineIndex,
                  usernameFragment: ev.candidate.usernameFragment,
                }
              : null,
          },
        });
    };
    const peer = { pc, tile, video, username };
    this.peers.set(socketId, peer);
    this.root.querySelector('[data-role=call-videos]')?.append(tile);
    return peer;
  }

  private async offer(socketId: string, username: string): Promise<void> {
    const call = this.call;
    if (!call) return;
    const { pc } = this.peer(socketId, username);
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    this.socket.emit('call:signal', {
      call: call.id,
      to: socketId,
      data: { sdp: { type: 'offer', sdp: offer.sdp ?? '' } },
    });
  }

  private async onSignal(callId: string, from: string, data: CallSignal['data']): Promise<void> {
    const call = this.call;
    if (!call || call.id !== callId) return;
    const username = call.participants.find((p) => p.socket === from)?.username ?? '';
    const { pc } = this.peer(from, username);
    try {
      if (data.sdp?.type === 'offer') {
        await pc.setRemoteDescription(data.sdp);
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        this.socket.emit('call:signal', {
          call: call.id,
          to: from,
          data: { sdp: { type: 'answer', sdp: answer.sdp ?? '' } },
        });
      } else if (data.sdp?.type === 'answer') await pc.setRemoteDescription(data.sdp);
      else if (data.candidate) await pc.addIceCandidate(data.candidate);
    } catch (err) {
      console.warn('call signal not applied', err);
    }
  }

  private showCamera(key: string | null): void {
    if (this.camera?.key === key) return;
    this.camera?.client.dispose();
    this.camera = undefined;
    const box = this.root.querySelector<HTMLElement>('[data-role=call-camera-view]');
    if (!box) return;
    box.replaceChildren();
    box.hidden = !key;
    if (!key) return;
    const body = document.createElement('div');
    body.className = 'tile-body';
    box.append(body);
    const client = new StreamClient(body, key, 'sub', preferredFormat(), () => undefined);
    client.start();
    this.camera = { key, client };
  }

  private teardown(call: CallView): void {
    for (const p of this.peers.values()) p.pc.close();
    this.peers.clear();
    this.camera?.client.dispose();
    this.camera = undefined;
    this.stopLocal();
    this.ended.unshift(call);
    if (this.ended.length > 20) this.ended.pop();
    this.lastShown = true;
    this.call = undefined;
    this.root.querySelector('[data-role=call-videos]')?.replaceChildren();
    // The card says how it ended (lastCallText); no second message under it.
    this.flash(() => '');
    this.render();
  }

  private stopLocal(): void {
    for (const track of this.local?.getTracks() ?? []) track.stop();
    this.local = undefined;
  }

  private startTone(): void {
    try {
      const ctx = new AudioContext();
      const beep = () => {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        gain.gain.value = 0.1;
        osc.frequency.value = 880;
        osc.connect(gain).connect(ctx.destination);
        osc.start();
        osc.stop(ctx.currentTime + 0.4);
      };
      beep();
      this.tone = { ctx, timer: window.setInterval(beep, 1500) };
    } catch {
      /* no audio output: the overlay still shows */
    }
  }

  private stopTone(): void {
    if (!this.tone) return;
    window.clearInterval(this.tone.timer);
    void this.tone.ctx.close();
    this.tone = undefined;
  }

  /** A message under the call; a function, so that a language switch words it again. */
  private message: () => string = () => '';
  private flash(text: string | (() => string)): void {
    this.message = typeof text === 'string' ? () => text : text;
    const el = this.root.querySelector<HTMLElement>('[data-role=call-msg]');
    if (el) el.textContent = this.message();
  }

  private caller(call: CallView): string {
    return call.fromSite
      ? `${call.from} · ${this.names.site(call.fromSite)}`
      : `${call.from} · ${t('commandRoom')}`;
  }

  /** Whom a call was with, seen from this side: the callee for a call I placed, else the caller. */
  private otherSide(call: CallView): string {
    if (call.from !== this.me.username) return this.caller(call);
    return call.to.commandRoom
      ? t('commandRoom')
      : call.to.sites.map((s) => this.names.site(s)).join(t('listSep'));
  }

  /** "Last call: with 千里村 · ended · 3:12 · 14:05". */
  private lastCallText(call: CallView): string {
    const outcome = t(
      call.state === 'missed' ? 'callMissed' : call.state === 'declined' ? 'callDeclined' : 'callEnded',
    );
    const seconds =
      call.answeredAt && call.endedAt ? Math.round((call.endedAt - call.answeredAt) / 1000) : undefined;
    const at = new Date(call.endedAt ?? call.createdAt).toLocaleTimeString(
      getLang() === 'zh' ? 'zh-CN' : 'en-GB',
      { hour: '2-digit', minute: '2-digit', hour12: false },
    );
    const duration =
      seconds !== undefined ? ` · ${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}` : '';
    return `${t('lastCallWith', { who: this.otherSide(call) })} · ${outcome}${duration} · ${at}`;
  }

  /** The page ends: hang up and stop listening. */
  dispose(): void {
    this.hangup();
    for (const off of this.offs) off();
  }

  /** The language changed. */
  relabel(): void {
    this.render();
    this.flash(this.message);
  }

  private render(): void {
    const ringing = this.ringing;
    const call = this.call;
    this.root.hidden = !ringing && !call && !(this.lastShown && this.ended.length > 0);
    const head = this.root.querySelector('[data-role=call-head]') as HTMLElement;
    const actions = this.root.querySelector('[data-role=call-actions]') as HTMLElement;
    const self = this.root.querySelector('[data-role=call-self]') as HTMLVideoElement;
    if (ringing) {
      head.textContent = `${t('incomingCall')}: ${this.caller(ringing)}`;
      this.root.dataset.state = 'ringing';
      actions.innerHTML = `<button type="button" class="primary" data-call="accept">${t('answer')}</button>
        <button type="button" data-call="decline">${t('decline')}</button>`;
    } else if (call) {
      this.root.dataset.state = call.state;
      const who = call.participants.filter((p) => p.username !== this.me.username).map((p) => p.username);
      head.textContent =
        call.state === 'ringing'
          ? `${t('calling')} ${call.to.commandRoom ? t('commandRoom') : call.to.sites.map((s) => this.names.site(s)).join(t('listSep'))}…`
          : `${t('inCall')}: ${who.join(t('listSep'))}${call.incident ? ` · ${t('incident')} #${call.incident}` : ''}`;
      const cameras = this.names.cameras();
      actions.innerHTML = `<button type="button" class="danger" data-call="hangup">${t('hangUp')}</button>
        <label>${t('showCamera')} <select data-role="call-camera"><option value="">—</option>${cameras
          .map(
            (c) =>
              `<option value="${escapeHtml(c.key)}"${c.key === call.camera ? ' selected' : ''}>${escapeHtml(c.name)}</option>`,
          )
          .join('')}</select></label>`;
    } else {
      this.root.dataset.state = 'idle';
      const last = this.ended[0];
      head.textContent = last && this.lastShown ? this.lastCallText(last) : '';
      actions.innerHTML =
        last && this.lastShown
          ? `<button type="button" data-call="dismiss" aria-label="${t('closeLastCall')}">✕ ${t('close')}</button>`
          : '';
    }
    if (self.srcObject !== (this.local ?? null)) self.srcObject = this.local ?? null;
  }
}
