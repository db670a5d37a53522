/**
 * Video-call signalling on the live channel's sockets (protocols/src/incidents.ts):
 *   client → hub: `call:start` (ack), `call:accept`, `call:decline`, `call:hangup`, `call:signal`,
 *                 `call:camera`
 *   hub → client: `call:ring` (an incoming call for this user), `call:update` (to everyone who rings
 *                 for it or takes part), `call:signal` (an offer, answer or candidate from a peer),
 *                 `call:error`.
 * Every message is checked against its schema (every signalling field bounded) and the caller's
 * rights; per socket, signals are limited in count (50/s, 200 burst) and bytes
 * (`calls.signalBytesPerSecond`), other call messages in count (10/s, 20 burst); call starts per
 * user and ringing per caller/callee pair in CallService. Refusals are counted
 * (`qly_socket_refused_total{reason="call_*"}`) and logged at most once a second per user and reason.
 */
import {
  CallSignal as CallSignalSchema,
  CallStart as CallStartSchema,
  type CallView,
  userMaySee,
} from '@qianliyan/protocols';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import fp from 'fastify-plugin';
import { HubError } from '../errors.ts';
import { CallRefused, CallService } from '../services/calls.ts';
import { ThrottledLog } from '../services/throttled-log.ts';
import { TokenBucket } from '../services/token-bucket.ts';

declare module 'fastify' {
  interface FastifyInstance {
    calls: CallService;
  }
}

const checkStart = TypeCompiler.Compile(CallStartSchema);
const checkSignal = TypeCompiler.Compile(CallSignalSchema);
const isId = (v: unknown): v is { call: string } =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as { call?: unknown }).call === 'string' &&
  (v as { call: string }).call.length <= 64;

export const callsPlugin = fp(
  async (app) => {
    const calls = new CallService(app.stateDb.handle, app.bus, {
      ringTimeoutMs: app.config.calls.ringTimeoutMs,
      maxStartsPer10s: app.config.calls.maxStartsPer10s,
      mayOpenIncident: (user, id) => app.incidents.visible(user, id),
    });
    app.decorate('calls', calls);
    const io = app.io;
    const sockets = () => io.of('/').sockets.values();
    const refusals = new ThrottledLog(app.log.child({ module: 'calls' }), 1000);
    const { signalBytesPerSecond } = app.config.calls;

    // Everyone concerned hears every change: participants, and those it rings for while it rings.
    app.bus.on('callChanged', 'calls', ({ call }) => {
      for (const s of sockets()) {
        const user = s.data?.user;
        if (!user) continue;
        const takesPart =
          call.participants.some((p) => p.socket === s.id) || call.joined.includes(user.username);
        const rings = call.state === 'ringing' && calls.ringsFor(user, call);
        if (rings && !s.data.ringing?.has(call.id)) {
          s.data.ringing = (s.data.ringing ?? new Set()).add(call.id);
          s.emit('call:ring', call);
        } else if (takesPart || s.data.ringing?.has(call.id)) s.emit('call:update', call);
        // Those it rang for may still join a call already answered (a conference) until it ends.
        if (call.state === 'ended' || call.state === 'missed' || call.state === 'declined')
          s.data.ringing?.delete(call.id);
      }
    });

    io.on('connection', (socket) => {
      const peer = () => ({ id: socket.id, user: socket.data.user });
      // A page that opens (or reconnects) while a call rings for its user rings too.
      const user = socket.data.user;
      if (user)
        for (const call of calls.open())
          if (call.state === 'ringing' && calls.ringsFor(user, call)) {
            socket.data.ringing = (socket.data.ringing ?? new Set()).add(call.id);
            socket.emit('call:ring', call);
          }
      const signals = new TokenBucket(50, 200);
      const signalBytes = new TokenBucket(signalBytesPerSecond, signalBytesPerSecond * 4);
      const messages = new TokenBucket(10, 20);
      const refuse = (reason: string, err: unknown) => {
        app.metrics.socketRefused.inc({ reason: `call_${reason}` });
        const e = err instanceof HubError ? err : new HubError('HUB_ERR_VALIDATION', 'invalid call message');
        const username = socket.data.user?.username ?? '?';
        refusals.warn(`${username}/${reason}`, { username, reason, code: e.code }, 'call message refused');
        socket.emit('call:error', { code: e.code, message: e.message });
      };
      const reasonOf = (err: unknown, fallback: string) =>
        err instanceof CallRefused
          ? err.reason
          : err instanceof HubError && err.statusCode === 403
            ? 'forbidden'
            : fallback;
      const guard = (reason: string, fn: () => void) => {
        if (!messages.take())
          return refuse('rate', new HubError('HUB_ERR_RATE_LIMITED', 'too many call messages'));
        try {
          fn();
        } catch (err) {
          refuse(reasonOf(err, reason), err);
        }
      };
      socket.on('call:start', (req: unknown, ack?: unknown) => {
        const reply = typeof ack === 'function' ? (ack as (r: unknown) => void) : () => undefined;
        if (!messages.take()) {
          const e = new HubError('HUB_ERR_RATE_LIMITED', 'too many call messages');
          refuse('rate', e);
          reply({ error: { code: e.code, message: e.message } });
          return;
        }
        if (!checkStart.Check(req)) {
          refuse('invalid', undefined);
          reply({ error: { code: 'HUB_ERR_VALIDATION', message: 'invalid call' } });
          return;
        }
        try {
          const call = calls.start(peer(), req);
          reply({ call });
        } catch (err) {
          refuse(reasonOf(err, 'refused'), err);
          const e = err instanceof HubError ? err : new HubError('HUB_ERR_INTERNAL');
          reply({ error: { code: e.code, message: e.message } });
        }
      });
      socket.on('call:accept', (m: unknown) =>
        guard('invalid', () => {
          if (!isId(m)) throw new HubError('HUB_ERR_VALIDATION', 'which call?');
          calls.accept(peer(), m.call);
        }),
      );
      socket.on('call:decline', (m: unknown) =>
        guard('invalid', () => {
          if (!isId(m)) throw new HubError('HUB_ERR_VALIDATION', 'which call?');
          socket.data.ringing?.delete(m.call);
          calls.decline(peer(), m.call);
        }),
      );
      socket.on('call:hangup', (m: unknown) =>
        guard('invalid', () => {
          if (!isId(m)) throw new HubError('HUB_ERR_VALIDATION', 'which call?');
          calls.hangup(peer(), m.call);
        }),
      );
      socket.on('call:camera', (m: unknown) =>
        guard('invalid', () => {
          const camera = (m as { camera?: unknown })?.camera;
          if (!isId(m) || !(camera === null || (typeof camera === 'string' && camera.length <= 200)))
            throw new HubError('HUB_ERR_VALIDATION', 'which call and camera?');
          if (camera !== null) {
            // Only a camera the sharer may see; each participant then opens it with their own rights.
            const device = app.registry.getDevice(camera);
            if (!device?.capabilities.includes('video'))
              throw new HubError('HUB_ERR_NOT_FOUND', `no camera ${camera}`);
            if (!userMaySee(socket.data.user, device.site))
              throw new HubError('HUB_ERR_FORBIDDEN', `${camera} is outside your sites`);
          }
          calls.showCamera(peer(), m.call, camera);
        }),
      );
      socket.on('call:signal', (m: unknown) => {
        if (!signals.take())
          return refuse('rate', new HubError('HUB_ERR_RATE_LIMITED', 'too many call signals'));
        if (!checkSignal.Check(m)) return refuse('invalid', undefined);
        // Bounded by the schema (an SDP ≤ 20,000 characters, a candidate ≤ 1,024): the bytes a
        // socket relays per second are bounded too, whatever mix of fields it sends.
        const bytes = (m.data.sdp?.sdp.length ?? 0) + (m.data.candidate?.candidate.length ?? 0) + 64;
        if (!signalBytes.take(bytes))
          return refuse('bytes', new HubError('HUB_ERR_RATE_LIMITED', 'too much call signalling'));
        try {
          const to = calls.relayTarget(peer(), m.call, m.to);
          io.to(to).emit('call:signal', { call: m.call, from: socket.id, data: m.data });
        } catch (err) {
          refuse(reasonOf(err, 'refused'), err);
        }
      });
      socket.on('disconnect', () => calls.socketGone(peer()));
    });

    app.addHook('preClose', async () => calls.stop());
  },
  { name: 'calls', dependencies: ['live', 'incidents'] },
);

export type { CallView };
