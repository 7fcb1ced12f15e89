/** TODO(issue 6): archive pages and API — being written. */
import type { AnyRoute } from '../routes.ts';

export function archiveRoutes(): AnyRoute[] {
  return [];
}
