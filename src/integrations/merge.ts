/** JSON-shaped values the visitor merge works on. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

function isObject(value: unknown): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/**
 * Merges a newer write into an older value so that concurrent writers lose nothing:
 * objects deep-merge, arrays are a union with the newer elements first, and any other value
 * (or a change of type) is taken from the newer side.
 */
export function mergeNewest(older: Json | undefined, newer: Json | undefined): Json | undefined {
  if (newer === undefined) return older
  if (isObject(older) && isObject(newer)) {
    const merged: { [key: string]: Json } = { ...older }
    for (const [key, value] of Object.entries(newer)) merged[key] = mergeNewest(older[key], value) as Json
    return merged
  }
  if (Array.isArray(older) && Array.isArray(newer)) {
    const seen = new Set(newer.map((item) => JSON.stringify(item)))
    return [...newer, ...older.filter((item) => !seen.has(JSON.stringify(item)))]
  }
  return newer
}

/**
 * What `after` adds or changes relative to `before`, as a value `mergeNewest` can apply to
 * someone else's newer copy; undefined when nothing changed. Removals are not carried: the
 * stores this serves only ever add (bucketing, goals, segments).
 */
export function changesSince(before: Json | undefined, after: Json | undefined): Json | undefined {
  if (after === undefined) return undefined
  if (isObject(before) && isObject(after)) {
    const changes: { [key: string]: Json } = {}
    for (const [key, value] of Object.entries(after)) {
      const change = changesSince(before[key], value)
      if (change !== undefined) changes[key] = change
    }
    return Object.keys(changes).length > 0 ? changes : undefined
  }
  return JSON.stringify(before) === JSON.stringify(after) ? undefined : after
}
