import fc from 'fast-check'
import { translateError } from '../../src/errors.ts'
import { fleetContext } from '../../src/fleet.ts'
import { streamBackend } from '../../src/streams/access.ts'
import type { ClaimedEntry, StreamBackend } from '../../src/streams/backend.ts'
import { withPublishId } from '../../src/streams/publish-ids.ts'
import { assertSameSteps, forEachParity } from './support.ts'

const stream = fc.constantFrom(0, 1)
const group = fc.constantFrom('g1', 'g2')
const consumer = fc.constantFrom('c1', 'c2')
const pick = fc.nat({ max: 12 })

type Op =
  | { kind: 'append'; stream: number; data: string }
  | { kind: 'appendOnce'; stream: number; publish: string; data: string; resend: boolean }
  | { kind: 'range'; stream: number; after: number; count: number }
  | { kind: 'createGroup' | 'lag'; stream: number; group: string }
  | { kind: 'readGroup'; stream: number; group: string; consumer: string; count: number; ack: number[] }
  | { kind: 'ack'; stream: number; group: string; entries: number[] }
  | { kind: 'claim'; stream: number; group: string; consumer: string; count: number }
  | { kind: 'release'; stream: number; group: string; consumer: string }
  | { kind: 'remove'; stream: number; entries: number[] }

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('append' as const), stream, data: fc.string({ maxLength: 5 }) }),
  },
  {
    // A few publish ids, sent first (a plain XADD, repeats included) or resent (found again).
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('appendOnce' as const),
      stream,
      publish: fc.constantFrom('p1', 'p2', 'p3'),
      data: fc.string({ maxLength: 5 }),
      resend: fc.boolean(),
    }),
  },
  fc.record({
    kind: fc.constant('range' as const),
    stream,
    after: fc.integer({ min: -1, max: 12 }),
    count: fc.integer({ min: 1, max: 5 }),
  }),
  fc.record({ kind: fc.constantFrom('createGroup' as const, 'lag' as const), stream, group }),
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('readGroup' as const),
      stream,
      group,
      consumer,
      count: fc.integer({ min: 1, max: 4 }),
      ack: fc.array(pick, { maxLength: 2 }),
    }),
  },
  fc.record({ kind: fc.constant('ack' as const), stream, group, entries: fc.array(pick, { maxLength: 3 }) }),
  fc.record({
    kind: fc.constant('claim' as const),
    stream,
    group,
    consumer,
    count: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ kind: fc.constant('release' as const), stream, group, consumer }),
  fc.record({ kind: fc.constant('remove' as const), stream, entries: fc.array(pick, { maxLength: 2 }) }),
)

/** First sends and resends of a few publish ids, on both streams. */
const resends: Op[] = [
  ['p1', false, 0],
  ['p1', true, 0],
  ['p2', true, 0],
  ['p2', true, 0],
  ['p1', true, 1],
  ['p1', false, 0],
].map(([publish, resend, stream]) => ({
  kind: 'appendOnce',
  stream: stream as number,
  publish: publish as string,
  data: `${publish}`,
  resend: resend as boolean,
}))

/** One side of the comparison: a backend, its keys, and the ids it has created in order. */
class Side {
  readonly ids: string[][] = [[], []]
  /** What each consumer was last handed per stream and group, for `release`. */
  readonly handed = new Map<string, ClaimedEntry[]>()
  readonly signal = new AbortController().signal

  constructor(
    readonly backend: StreamBackend,
    readonly keys: string[],
  ) {}

  /** The real id of the n-th entry of a stream, or an id after every entry when there is none. */
  id(stream: number, n: number): string {
    return this.ids[stream]![n] ?? '999999999999999-0'
  }

  /** Replaces the real ids of `stream` in a result with their order of creation. */
  normalise(stream: number, value: unknown): unknown {
    if (typeof value === 'string' && /^\d+-\d+$/.test(value)) {
      const n = this.ids[stream]!.indexOf(value)
      if (n !== -1) return `#${n}`
      return value === '0-0' ? value : 'id?'
    }
    if (Array.isArray(value)) return value.map((v) => this.normalise(stream, v))
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.normalise(stream, v)]))
    }
    return value
  }

  async apply(o: Op): Promise<unknown> {
    try {
      return this.normalise(o.stream, await this.#call(o))
    } catch (raw) {
      // Redis' reply errors become redfleet errors in the operation runner; compare those.
      const error = translateError(raw, o.kind) as Error & { code?: string }
      return {
        error: error.constructor.name,
        code: error.code,
        reply: /\b[A-Z]{3,}\b/.exec(error.message)?.[0],
      }
    }
  }

  async #call(o: Op): Promise<unknown> {
    const key = this.keys[o.stream]!
    switch (o.kind) {
      case 'append': {
        const [id] = await this.backend.append([
          { key, fields: ['d', o.data], maxLen: 1000, approximate: true },
        ])
        this.ids[o.stream]!.push(id!)
        return id
      }
      case 'appendOnce': {
        const fields = withPublishId(o.data, o.publish)
        const write = { key, fields, maxLen: 1000, approximate: true, once: o.publish }
        const [id] = await this.backend.append([write], undefined, o.resend)
        // A repeat returns the id of the entry its publish added before.
        if (!this.ids[o.stream]!.includes(id!)) this.ids[o.stream]!.push(id!)
        return id
      }
      case 'range': {
        const entries = await this.backend.range(
          key,
          o.after < 0 ? '0-0' : this.id(o.stream, o.after),
          o.count,
        )
        // A RawEntry is its id and fields (the Redis decoder shares one shape with claimed entries).
        return entries.map(({ id, fields }) => ({ id, fields }))
      }
      case 'createGroup':
        return this.backend.createGroup(key, o.group)
      case 'lag':
        return this.backend.lag(key, o.group)
      case 'readGroup': {
        const acks = o.ack.map((n) => this.id(o.stream, n))
        const read = await this.backend.readGroup(key, o.group, o.consumer, o.count, 1, acks, this.signal)
        this.handed.set(`${o.stream}/${o.group}/${o.consumer}`, read)
        return read
      }
      case 'ack':
        return this.backend.ack(
          key,
          o.group,
          o.entries.map((n) => this.id(o.stream, n)),
        )
      case 'claim': {
        const claimed = await this.backend.claim(key, o.group, o.consumer, 0, '0-0', o.count)
        this.handed.set(`${o.stream}/${o.group}/${o.consumer}`, claimed.entries)
        return claimed
      }
      case 'release': {
        const entries = this.handed.get(`${o.stream}/${o.group}/${o.consumer}`) ?? []
        this.handed.delete(`${o.stream}/${o.group}/${o.consumer}`)
        return this.backend.release(key, o.group, o.consumer, entries)
      }
      case 'remove':
        return this.backend.remove(
          key,
          o.entries.map((n) => this.id(o.stream, n)),
        )
    }
  }
}

forEachParity(
  'stream backend parity',
  'random sequences of stream commands give the same results on memory and Redis',
  async (memory, redis) => {
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        run++
        const [left, right] = [memory, redis].map((fleet) => {
          const ctx = fleetContext(fleet)
          return new Side(streamBackend(ctx), [
            ctx.keys.key('p', `${run}`, 'a'),
            ctx.keys.key('p', `${run}`, 'b'),
          ])
        }) as [Side, Side]
        await assertSameSteps(
          ops,
          (o) => left.apply(o),
          (o) => right.apply(o),
        )
      }),
      // Always among the runs: first sends, repeated ones, and resends that find them or not.
      { numRuns: 30, examples: [[resends]] },
    )
  },
)
