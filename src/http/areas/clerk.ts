/** TODO(issue 6): clerk pages and API — being written. */
import type { AnyRoute } from '../routes.ts';

export function clerkRoutes(): AnyRoute[] {
  return [];
}
