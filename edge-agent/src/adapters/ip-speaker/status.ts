/**
 * A loudspeaker's status as its HTTP control API reports it (`GET {controlUrl}/status`), and what
 * it proves about a broadcast.
 *
 * RTP over UDP has no acknowledgement: an encoder that sent every packet says nothing about a
 * speaker that heard them. What a speaker can say is in its status: a counter of RTP packets
 * received (`packets`; `rtpPackets`, `rxPackets` in some firmwares) or a playing flag. A broadcast
 * is confirmed when the counter rose during it (a counter that went down was reset — a reboot —
 * and counts from zero), or, where the speaker has no counter, when it was seen playing; a
 * speaker with neither cannot tell (the broadcast is "sent, unconfirmed").
 * Anything that is not such an object is refused with a reason, never guessed at.
 */

export interface SpeakerStatus {
  power?: boolean;
  volume?: number;
  playing?: boolean;
  /** RTP packets received since the speaker started (monotonic until it restarts). */
  packets?: number;
}

export class SpeakerStatusError extends Error {}

const MAX_PACKETS = Number.MAX_SAFE_INTEGER;

function flag(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === 0) return v === 1;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (['on', 'true', '1', 'playing'].includes(s)) return true;
    if (['off', 'false', '0', 'idle', 'stopped'].includes(s)) return false;
  }
  return undefined;
}

function count(v: unknown): number | undefined {
  const n = typeof v === 'string' && /^\d{1,16}$/.test(v.trim()) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_PACKETS ? n : undefined;
}

/** The status in a control API's JSON answer (already parsed); throws SpeakerStatusError on garbage. */
export function parseSpeakerStatus(body: unknown): SpeakerStatus {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new SpeakerStatusError('the status answer is not a JSON object');
  const o = body as Record<string, unknown>;
  const status: SpeakerStatus = {};
  const power = flag(o.power);
  if (power !== undefined) status.power = power;
  const volume = typeof o.volume === 'number' && o.volume >= 0 && o.volume <= 100 ? o.volume : undefined;
  if (volume !== undefined) status.volume = volume;
  const playing = flag(o.playing ?? o.state);
  if (playing !== undefined) status.playing = playing;
  const packets = count(o.packets ?? o.rtpPackets ?? o.rxPackets);
  if (packets !== undefined) status.packets = packets;
  if (Object.keys(status).length === 0)
    throw new SpeakerStatusError('the status answer names none of power, volume, playing, packets');
  return status;
}

/** Whether the status after (or during) a broadcast proves the speaker received it. */
export type Confirmation = 'confirmed' | 'not_received' | 'cannot_tell';

export function playbackConfirmation(before: SpeakerStatus | undefined, after: SpeakerStatus): Confirmation {
  if (after.packets !== undefined) {
    const base = before?.packets;
    if (base === undefined) return after.playing === true ? 'confirmed' : 'cannot_tell';
    // A counter that went down was reset (the speaker restarted): what it counts now is new.
    const received = after.packets >= base ? after.packets - base : after.packets;
    return received > 0 ? 'confirmed' : 'not_received';
  }
  // A flag only: seen playing proves it; not playing (yet, or any more) proves nothing.
  return after.playing === true ? 'confirmed' : 'cannot_tell';
}
