import { z } from 'zod';
import { Capability, CapsyncError, unwrapCapability, type CapsyncServer } from '../../server/index.js';
import { inspectServer, type Inspection } from '../../server/inspect.js';

/** The scope of the inspector's own capability: no video capability reaches it, and it reaches no video. */
export const inspectScope = ['capsync_admin', 'inspect'] as const;

/**
 * The admin's inspector: `get_inspector` hands the admin role a capability of its own (checked once, where
 * it is handed out, like `get_my_videos`), and `inspect` takes only that capability. A hidden URL would be
 * a secret anyone who saw it keeps; this capability is bound to the admin's session and can be revoked.
 */
export function installInspector(server: CapsyncServer): void {
  server.callable('get_inspector', ({ user }) => {
    if (!(user?.roles.includes('admin') ?? false)) throw new CapsyncError('ERR_FORBIDDEN', 'only admins may inspect the server');
    return server.mint(inspectScope);
  });

  server.callable(
    'inspect',
    (_ctx, cap: Capability): Inspection => {
      unwrapCapability(cap, [...inspectScope]);
      return inspectServer(server);
    },
    { args: z.tuple([z.instanceof(Capability)]) },
  );
}
