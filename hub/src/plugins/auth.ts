/**
 * Authentication and roles. Users log in with a password (scrypt hash in the state DB) and get a
 * JWT; every REST route but login and every socket requires it. On the very first start the admin
 * password comes from ADMIN_PASSWORD or is generated and handed to server.ts to print once.
 */
import fastifyJwt from '@fastify/jwt';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { HubError } from '../errors.ts';
import { hashPassword, randomSecret } from '../security/passwords.ts';
import type { Role } from '../stores/state-db.ts';

export interface AuthUser {
  username: string;
  role: Role;
  sites: string[];
}

/** The site scope rule: a village operator sees only the sites on their account; other roles see all. */
export function userMaySee(user: AuthUser, site: string): boolean {
  return user.role !== 'village_operator' || user.sites.includes(site);
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AuthUser;
    user: AuthUser;
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
    requireRole: (...roles: Role[]) => (request: FastifyRequest, reply: FastifyReply) => Promise<void>;
    /** Set on the first start when the hub generated the admin password. */
    bootstrap: { adminPassword?: string };
  }
}

export const authPlugin = fp(
  async (app) => {
    await app.register(fastifyJwt, {
      secret: app.secrets.jwtSecret,
      sign: { expiresIn: app.config.auth.tokenTtl },
    });

    app.decorate('authenticate', async (request: FastifyRequest) => {
      try {
        await request.jwtVerify();
      } catch {
        throw new HubError('HUB_ERR_UNAUTHORIZED');
      }
    });
    app.decorate('requireRole', (...roles: Role[]) => async (request: FastifyRequest) => {
      if (!roles.includes(request.user.role)) throw new HubError('HUB_ERR_FORBIDDEN');
    });

    const bootstrap: { adminPassword?: string } = {};
    if (app.stateDb.countUsers() === 0) {
      const fromEnv = process.env.ADMIN_PASSWORD;
      const password = fromEnv && fromEnv.length > 0 ? fromEnv : randomSecret();
      app.stateDb.createUser({
        username: 'admin',
        passwordHash: await hashPassword(password, app.config.auth.scryptLog2N),
        role: 'admin',
        sites: [],
      });
      if (!fromEnv) bootstrap.adminPassword = password;
      app.log.info({ generated: !fromEnv }, 'created the admin user');
    }
    app.decorate('bootstrap', bootstrap);
  },
  { name: 'auth', dependencies: ['stores'] },
);
