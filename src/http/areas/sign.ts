/** TODO(issue 6): sign pages and API — being written. */
import type { AnyRoute } from '../routes.ts';

export function signRoutes(): AnyRoute[] {
  return [];
}
