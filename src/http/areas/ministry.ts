/** TODO(issue 6): ministry pages and API — being written. */
import type { AnyRoute } from '../routes.ts';

export function ministryRoutes(): AnyRoute[] {
  return [];
}
