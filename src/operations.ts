/**
 * What each public operation is (SPEC §8), for the one operation runner (src/context.ts) and the
 * telemetry that traces every operation (SPEC §11): the complete list of operations, by primitive.
 *
 * After a timeout, or a connection lost once a command was sent, nobody knows whether Redis
 * applied it. Repeating a `set` is harmless; repeating an `increment` counts twice. So:
 * - `'safe'`: repeating it cannot change the outcome; retried after any transient failure.
 * - `'once'`: repeating it could apply it twice; never re-sent after an ambiguous failure (the
 *   caller gets `outcome: 'unknown'`), re-sent only when the failure is known `'not-applied'`.
 * - `'by-id'`: made safe to repeat by an id or token that turns a second copy into a no-op (a
 *   claim that recognises its own earlier win); retried like `'safe'`.
 */
export type Repetition = 'safe' | 'once' | 'by-id'

export const OPERATIONS = {
  store: {
    get: 'safe',
    set: 'safe',
    delete: 'safe',
    setIfNotExists: 'by-id', // the claim recognises its own earlier win (src/store/lua/claim-2.lua)
    increment: 'once',
    update: 'by-id', // re-reads are harmless; a sent write is re-sent as is, recognised by its token
    getMany: 'safe',
    setMany: 'safe',
  },
  cache: {
    read: 'safe',
    write: 'safe',
    fetch: 'safe',
    exist: 'safe',
    delete: 'safe',
    readMulti: 'safe',
    writeMulti: 'safe',
    fetchMulti: 'safe',
    deleteMulti: 'safe',
    increment: 'once',
    decrement: 'once',
    readCounter: 'safe',
    writeCounter: 'safe',
    deleteMatched: 'safe',
    invalidateTag: 'safe',
    clear: 'safe',
  },
  // A PUBLISH repeated is a message delivered twice, and pub/sub keeps nothing to recognise it by.
  broker: { publish: 'once', subscribe: 'safe', ready: 'safe' },
  presence: { publish: 'once', subscribe: 'safe' },
  streams: {
    // Each call carries a publish id in its entries; a resend looks for them (src/streams/publish-ids.ts).
    publish: 'by-id',
    publishToChannel: 'by-id',
    readRange: 'safe',
    tail: 'safe',
    tailEvents: 'safe',
    ensureGroup: 'safe',
    consume: 'safe',
    groupLag: 'safe',
  },
  membership: {
    heartbeat: 'safe',
    leave: 'safe',
    live: 'safe',
    join: 'safe',
    owner: 'safe',
    send: 'by-id', // an inbox append carries a publish id, like streams.publish
    inbox: 'safe',
  },
  tracker: {
    start: 'safe',
    heartbeat: 'safe',
    stop: 'safe',
    track: 'safe',
    inFlight: 'safe',
    instances: 'safe',
    orphans: 'safe',
    // A claim recognises its own earlier win (src/tracker/lua/claim-orphan-3.lua); completing and
    // releasing a claim are compare-and-delete by its token, harmless to repeat.
    recoverOrphans: 'by-id',
    recoverEvery: 'by-id', // the recoverEvery loop's passes, as recoverOrphans
  },
} as const satisfies Record<string, Record<string, Repetition>>

export type Primitive = keyof typeof OPERATIONS

const repetitions = new Map<string, Repetition>(
  Object.entries(OPERATIONS).flatMap(([primitive, methods]) =>
    Object.entries(methods).map(([method, repetition]): [string, Repetition] => [
      `${primitive}.${method}`,
      repetition,
    ]),
  ),
)

/**
 * True when re-sending `op` (`primitive.method`) after an ambiguous failure cannot change its
 * outcome. An operation missing from the list is treated as `'once'`: never applied twice.
 */
export function repeatsSafely(op: string): boolean {
  const repetition = repetitions.get(op)
  return repetition === 'safe' || repetition === 'by-id'
}
