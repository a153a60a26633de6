/**
 * Redis map replies (XINFO ...) as ioredis hands them over: a flat [name, value, ...] array
 * (RESP2, and RESP3 maps flattened), or a Map/object from clients that keep maps. One reader
 * for all of them keeps the gatherers independent of the protocol version.
 */
export function fieldsOf(reply: unknown): Map<string, unknown> {
  if (reply instanceof Map) return new Map([...reply].map(([k, v]) => [String(k), v]))
  const fields = new Map<string, unknown>()
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), reply[i + 1])
  } else if (typeof reply === 'object' && reply !== null) {
    for (const [k, v] of Object.entries(reply)) fields.set(k, v)
  }
  return fields
}

/** A numeric field, or null when missing, nil or not a number. */
export function numberField(fields: Map<string, unknown>, name: string): number | null {
  const value = fields.get(name)
  if (value === null || value === undefined) return null
  const n = Number(value)
  return Number.isFinite(n) ? n : null
}
