/**
 * Which record fields a route needs: the fields its declarative mapping reads plus its
 * `enrich` list, by the object's own field names (`Name.LastName` → `LastName`), so they can be
 * selected in SOQL. A route with a custom mapper and no `enrich` list declares nothing: for a
 * gap or a resync, where there is no data at all, it gets every field of the object.
 */
import { splitDotted } from '../normalize/compound.ts';
import type { RouteConfig } from '../config/schema.ts';

const cache = new WeakMap<RouteConfig, readonly string[] | null>();

/** The object's field name for a mapping path. */
export function fieldOfPath(path: string): string {
  return splitDotted(path)?.flat ?? path;
}

/** Fields `route` needs, or undefined when it does not say (custom mapper without `enrich`). */
export function routeNeeds(route: RouteConfig): readonly string[] | undefined {
  let needs = cache.get(route);
  if (needs === undefined) {
    const declared = route.mapping === undefined ? [] : Object.values(route.mapping.data);
    const all = [...declared, ...route.enrich].map(fieldOfPath);
    needs = route.mapping === undefined && route.enrich.length === 0 ? null : [...new Set(all)];
    cache.set(route, needs);
  }
  return needs ?? undefined;
}

/**
 * Union of the needs of `routes`; undefined when any of them declares nothing (then the caller
 * takes every field the object has).
 */
export function unionNeeds(routes: readonly RouteConfig[]): string[] | undefined {
  const out = new Set<string>();
  for (const route of routes) {
    const needs = routeNeeds(route);
    if (needs === undefined) return undefined;
    for (const f of needs) out.add(f);
  }
  return [...out];
}
