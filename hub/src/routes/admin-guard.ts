/**
 * The guard of the provisioning and fleet routes: administrators only, and a refusal is counted
 * (`qly_admin_refused_total{route}`) and audited with who asked — these routes hand out gateway
 * identities and device secrets, so a probe by another role is worth an entry.
 */
import { ACCESS } from '@qianliyan/protocols';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HubError } from '../errors.ts';

export function adminOnly(app: FastifyInstance) {
  return async (request: FastifyRequest): Promise<void> => {
    if (ACCESS.administer.includes(request.user.role)) return;
    const route = `${request.method} ${request.routeOptions.url ?? '?'}`;
    app.metrics.adminRefused.inc({ route });
    app.audit.append({
      actor: request.user.username,
      action: 'admin.refused',
      target: route,
      outcome: 'denied',
      detail: { role: request.user.role, address: request.ip },
    });
    throw new HubError('HUB_ERR_FORBIDDEN', `the role ${request.user.role} may not administer gateways`);
  };
}
