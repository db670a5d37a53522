/** The command service, started with the hub and stopped when it closes. */
import fp from 'fastify-plugin';
import { CommandService } from '../services/commands.ts';

declare module 'fastify' {
  interface FastifyInstance {
    commands: CommandService;
  }
}

export const commandsPlugin = fp(
  async (app) => {
    const commands = new CommandService(
      app.stateDb,
      app.registry,
      app.mqtt,
      app.bus,
      app.audit,
      app.metrics,
      app.log.child({ module: 'commands' }),
    );
    commands.start();
    app.decorate('commands', commands);
    app.addHook('onClose', async () => commands.stop());
  },
  { name: 'commands', dependencies: ['ingest', 'auth'] },
);
