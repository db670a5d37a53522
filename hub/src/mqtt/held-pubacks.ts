/**
 * Holds back the PUBACK of every QoS 1 message until the hub says it is stored.
 *
 * Why not MQTT.js's `customHandleAcks`: it is honoured only with MQTT 5 (the embedded broker speaks
 * 3.1.1), and MQTT.js processes no further packet until that callback answers, which would cap
 * ingest at one message per store commit. Here every message is handed over at once through the
 * documented `handleMessage` hook, MQTT.js's own PUBACK for it is swallowed, and the hub writes the
 * PUBACK itself when `ack()` is called, after the batch holding the message is committed.
 *
 * An ack belongs to the connection that delivered the message. When that connection closes, its
 * held acks are void: the broker redelivers those messages on the next connection (persistent
 * session, MQTT 3.1.1 §4.4), possibly under the same packet ids, so a late ack must never go out on
 * a newer connection, and MQTT.js must not queue one while offline.
 *
 * This touches two private methods of MQTT.js (`_sendPacket`, `_writePacket`); the version is pinned
 * in hub/package.json and `hub/test/mqtt/held-pubacks.test.ts` proves the behaviour against a broker.
 */
import type { MqttClient } from 'mqtt';
import type { IPublishPacket } from 'mqtt-packet';

export type Ack = () => void;
export type HeldMessageHandler = (topic: string, payload: Buffer, packet: IPublishPacket, ack: Ack) => void;

interface MqttClientInternals {
  _sendPacket(
    packet: { cmd: string; messageId?: number },
    cb?: (err?: Error) => void,
    ...rest: unknown[]
  ): void;
  _writePacket(packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void): void;
}

/**
 * Per packet id: `early` while the hub handles the message (an ack now lets MQTT.js send its own
 * PUBACK), `acked-early` when it did, `held` once MQTT.js's PUBACK has been swallowed.
 */
type AckState = 'early' | 'acked-early' | 'held';

export function holdPubacks(client: MqttClient, onMessage: HeldMessageHandler): { held: () => number } {
  const internals = client as unknown as MqttClientInternals;
  const send = internals._sendPacket.bind(client);
  let generation = 0;
  const states = new Map<number, AckState>();
  /** Acks released and not yet written: written together, corked, once per turn. */
  let ready: number[] = [];
  let writeScheduled = false;

  const writeReady = () => {
    writeScheduled = false;
    const ids = ready;
    ready = [];
    const stream = (
      client as unknown as { stream?: NodeJS.WritableStream & { cork(): void; uncork(): void } }
    ).stream;
    if (!client.connected || !stream || ids.length === 0) return;
    stream.cork();
    for (const messageId of ids) internals._writePacket({ cmd: 'puback', messageId });
    process.nextTick(() => stream.uncork());
  };

  /** Bound per message with `bind` (not a closure, which costs more for every message). */
  function release(mine: number, id: number): void {
    if (mine !== generation) return; // the connection that delivered it is gone
    const state = states.get(id);
    if (state === 'early') states.set(id, 'acked-early');
    else if (state === 'held') {
      states.delete(id);
      ready.push(id);
      if (!writeScheduled) {
        writeScheduled = true;
        setImmediate(writeReady);
      }
    }
  }

  client.on('close', () => {
    generation += 1;
    states.clear();
    ready = [];
  });

  internals._sendPacket = (packet, cb, ...rest) => {
    if (
      packet.cmd === 'puback' &&
      packet.messageId !== undefined &&
      states.get(packet.messageId) === 'held'
    ) {
      cb?.();
      return;
    }
    send(packet, cb, ...rest);
  };

  client.handleMessage = (packet, callback) => {
    if (packet.cmd !== 'publish') return callback();
    const publish = packet as IPublishPacket;
    const id = publish.messageId;
    if (publish.qos !== 1 || id === undefined) {
      onMessage(publish.topic, publish.payload as Buffer, publish, noop);
      return callback();
    }
    states.set(id, 'early');
    onMessage(publish.topic, publish.payload as Buffer, publish, release.bind(null, generation, id));
    if (states.get(id) === 'acked-early') states.delete(id);
    else states.set(id, 'held');
    callback();
  };

  return {
    held: () => {
      let n = 0;
      for (const state of states.values()) if (state === 'held') n++;
      return n;
    },
  };
}

function noop(): void {}
