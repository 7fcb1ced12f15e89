/** All routes of the app, area by area; the OpenAPI document and the role-matrix test read this list. */
import type { AnyRoute } from '../routes.ts';
import { authRoutes } from './auth.ts';
import { clerkRoutes } from './clerk.ts';
import { ministryRoutes } from './ministry.ts';
import { signRoutes } from './sign.ts';
import { archiveRoutes } from './archive.ts';
import { adminRoutes } from './admin.ts';
import { pkiRoutes } from './pki.ts';

export function allRoutes(): AnyRoute[] {
  const routes: AnyRoute[] = [];
  routes.push(...authRoutes(() => routes), ...clerkRoutes(), ...ministryRoutes(), ...signRoutes(), ...archiveRoutes(), ...adminRoutes(), ...pkiRoutes());
  return routes;
}
