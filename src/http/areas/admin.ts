/** TODO(issue 6): admin pages and API — being written. */
import type { AnyRoute } from '../routes.ts';

export function adminRoutes(): AnyRoute[] {
  return [];
}
