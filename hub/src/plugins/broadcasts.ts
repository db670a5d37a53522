/** The broadcast service and the clip store; broadcasts follow playback events on the bus. */
import fp from 'fastify-plugin';
import { BroadcastService } from '../services/broadcasts.ts';
import { ClipStore } from '../services/clips.ts';
import { resolveFfmpeg } from '../video/ffmpeg-process.ts';

declare module 'fastify' {
  interface FastifyInstance {
    broadcasts: BroadcastService;
    clips: ClipStore;
  }
}

export const broadcastsPlugin = fp(
  async (app) => {
    const clips = new ClipStore(
      app.stateDb.handle,
      app.config.dataDir,
      resolveFfmpeg(app.config.video.ffmpegPath),
      app.log.child({ module: 'clips' }),
    );
    const broadcasts = new BroadcastService(
      app.stateDb.handle,
      clips,
      app.registry,
      app.commands,
      app.bus,
      app.audit,
      app.log.child({ module: 'broadcasts' }),
      (username) => {
        const u = app.stateDb.getUser(username);
        return u && !u.disabled
          ? { username: u.username, role: u.role, sites: u.sites, sid: 'scheduler' }
          : undefined;
      },
    );
    broadcasts.start(app.cluster.scheduler);
    app.decorate('broadcasts', broadcasts);
    app.decorate('clips', clips);
    app.addHook('onClose', async () => broadcasts.stop());
  },
  { name: 'broadcasts', dependencies: ['commands', 'ingest'] },
);
