/**
 * Copies of the parsed JSON trees the near cache keeps (entry.ts `keepParsed`): every near hit
 * hands out a fresh copy, so a caller that mutates what it got changes neither the cached value
 * nor what another caller gets (SPEC §3: the cache keeps its own copy).
 *
 * A tree of a known shape is copied by a function made for that shape: one object or array
 * literal per node, the leaves read by constant keys (`{ ["id"]: t["id"], ["tags"]: [t["tags"][0],
 * ...] }`), which V8 allocates from a boilerplate several times faster than any generic walk.
 * The function depends only on the shape (keys in order, array lengths, which slots hold
 * objects), never on a value, so one is made per shape and shared. Keys enter the source only as
 * JSON.stringify'd string literals, in computed form (`["__proto__"]` defines an own property,
 * as JSON.parse does, rather than setting the prototype). Trees too large for that, shapes past
 * the bound, or a process that forbids code generation (`--disallow-code-generation-from-strings`)
 * get the generic walk, `cloneJson`.
 */

/** Copies a tree of the shape it was made for. */
export type Copier = (tree: unknown) => unknown

/** At most this many object/array slots in one tree get a shape copier. */
const MAX_SLOTS = 128
/** Arrays of primitives up to this length are copied slot by slot, longer ones with slice(). */
const MAX_LITERAL_ARRAY = 16
/** At most this many shapes are kept; trees of further shapes are walked. */
const MAX_SHAPES = 256
/** At most this many characters of source per shape (long keys make long source). */
const MAX_SOURCE = 8192

const copiers = new Map<string, Copier>()
let generating = true

/** The cheapest correct way to copy `tree` (a JSON.parse result nobody else holds). */
export function copierOf(tree: unknown): Copier {
  if (typeof tree !== 'object' || tree === null || !generating) return cloneJson
  const budget = { slots: MAX_SLOTS }
  const body = sourceOf(tree, 't', budget)
  if (body === undefined || body.length > MAX_SOURCE) return cloneJson
  let copier = copiers.get(body)
  if (copier !== undefined) return copier
  if (copiers.size >= MAX_SHAPES) return cloneJson
  try {
    copier = new Function('t', `"use strict"; return ${body}`) as Copier
  } catch {
    // Code generation from strings is disallowed in this process: walk every tree.
    generating = false
    return cloneJson
  }
  copiers.set(body, copier)
  return copier
}

/** The expression that copies `node`, read at `at`; undefined when over budget. */
function sourceOf(node: unknown, at: string, budget: { slots: number }): string | undefined {
  if (typeof node !== 'object' || node === null) return at
  if (Array.isArray(node)) {
    if (node.length > MAX_LITERAL_ARRAY && node.every(isLeaf)) return `${at}.slice()`
    budget.slots -= node.length + 1
    if (budget.slots < 0) return undefined
    let out = '['
    for (let i = 0; i < node.length; i++) {
      const item = sourceOf(node[i], `${at}[${i}]`, budget)
      if (item === undefined) return undefined
      out += i === 0 ? item : `,${item}`
    }
    return `${out}]`
  }
  const keys = Object.keys(node)
  budget.slots -= keys.length + 1
  if (budget.slots < 0) return undefined
  let out = '{'
  for (let i = 0; i < keys.length; i++) {
    const key = JSON.stringify(keys[i])
    const item = sourceOf((node as Record<string, unknown>)[keys[i]!], `${at}[${key}]`, budget)
    if (item === undefined) return undefined
    out += `${i === 0 ? '' : ','}[${key}]:${item}`
  }
  return `${out}}`
}

function isLeaf(item: unknown): boolean {
  return typeof item !== 'object' || item === null
}

/**
 * A deep copy of a parsed JSON tree (plain objects, arrays, primitives only). Spread copies an
 * object's own properties in one step (and defines `__proto__` as an own property, as
 * JSON.parse did, rather than setting the prototype); only nested objects are visited again.
 */
export function cloneJson(tree: unknown): unknown {
  if (typeof tree !== 'object' || tree === null) return tree
  if (Array.isArray(tree)) {
    const out = tree.slice()
    for (let i = 0; i < out.length; i++) {
      const item = out[i]
      if (typeof item === 'object' && item !== null) out[i] = cloneJson(item)
    }
    return out
  }
  const out: Record<string, unknown> = { ...tree }
  for (const key in out) {
    const item = out[key]
    // hasOwn: a for-in also lists enumerable properties someone added to Object.prototype.
    if (typeof item === 'object' && item !== null && Object.hasOwn(out, key)) out[key] = cloneJson(item)
  }
  return out
}
