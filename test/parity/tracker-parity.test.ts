import fc from 'fast-check'
import { fleetContext } from '../../src/fleet.ts'
import { Keyspace } from '../../src/keyspace.ts'
import type { TrackerBackend } from '../../src/tracker/backend.ts'
import { type SessionKeys, TrackerKeys } from '../../src/tracker/keys.ts'
import { MemoryTrackerBackend } from '../../src/tracker/memory.ts'
import { RedisTrackerBackend } from '../../src/tracker/redis.ts'
import { assertSameSteps, forEachParity } from './support.ts'

/** Three sessions, two of them in one index shard (same first hex digits). */
const SESSIONS = [
  '00010000000000000000000000000000',
  '00010000000000000000000000000001',
  'abcd0000000000000000000000000000',
]
const session = fc.nat({ max: SESSIONS.length - 1 })
const job = fc.constantFrom('j1', 'j2')
const token = fc.constantFrom('t1', 't2')
/** Liveness that never runs out during a test: expiry is not what this compares. */
const TTL = 600_000

type Op =
  | { kind: 'heartbeat'; session: number; lastSeen: number }
  | { kind: 'record'; session: number; job: string; text: string; lastSeen: number | undefined }
  | { kind: 'remove'; session: number; job: string }
  | { kind: 'leave'; session: number; release: string[] }
  | { kind: 'retire'; session: number }
  | { kind: 'claim' | 'complete' | 'release'; session: number; job: string; token: string }
  | { kind: 'list' }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('heartbeat' as const), session, lastSeen: fc.nat({ max: 1000 }) }),
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('record' as const),
      session,
      job,
      text: fc.string({ maxLength: 4 }),
      // A session that heartbeats restores its liveness with a record.
      lastSeen: fc.option(fc.nat({ max: 1000 }), { nil: undefined }),
    }),
  },
  fc.record({ kind: fc.constant('remove' as const), session, job }),
  fc.record({ kind: fc.constant('leave' as const), session, release: fc.uniqueArray(job, { maxLength: 2 }) }),
  fc.record({ kind: fc.constant('retire' as const), session }),
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom('claim' as const, 'complete' as const, 'release' as const),
      session,
      job,
      token,
    }),
  },
  fc.record({ kind: fc.constant('list' as const) }),
)

async function apply(backend: TrackerBackend, keys: TrackerKeys, o: Op): Promise<unknown> {
  const of = (n: number): SessionKeys => keys.session(SESSIONS[n]!)
  switch (o.kind) {
    case 'heartbeat':
      return backend.heartbeat(of(o.session), SESSIONS[o.session]!, `i${o.session}`, o.lastSeen, TTL)
    case 'record':
      return backend.record(
        of(o.session),
        SESSIONS[o.session]!,
        `i${o.session}`,
        o.job,
        o.text,
        o.lastSeen === undefined ? undefined : { lastSeen: o.lastSeen, ttl: TTL },
      )
    case 'remove':
      return backend.remove(of(o.session), o.job)
    case 'leave':
      return backend.leave(of(o.session), SESSIONS[o.session]!, o.release)
    case 'retire':
      return backend.retire(of(o.session), SESSIONS[o.session]!)
    case 'claim':
      return backend.claim(of(o.session), o.job, o.token, TTL)
    case 'complete':
      return backend.complete(of(o.session), o.job, o.token)
    case 'release':
      return backend.release(of(o.session), o.job, o.token)
    case 'list': {
      const all = SESSIONS.map((_, n) => of(n))
      const [sessions, alive, jobs] = await Promise.all([
        backend.sessions(keys.shards),
        backend.alive(all),
        backend.jobs(all),
      ])
      return { sessions: [...sessions].sort(), alive, jobs: jobs.map((m) => [...m].sort()) }
    }
  }
}

forEachParity(
  'tracker backend parity',
  'random sequences of the atomic steps give the same results and listings',
  async (memory, redis) => {
    const memoryBackend = new MemoryTrackerBackend(fleetContext(memory).memory)
    const redisBackend = new RedisTrackerBackend(fleetContext(redis).redisHandle)
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        run++
        const left = new TrackerKeys(new Keyspace(`${memory.namespace}:r${run}`))
        const right = new TrackerKeys(new Keyspace(`${redis.namespace}:r${run}`))
        await assertSameSteps(
          ops,
          (o) => apply(memoryBackend, left, o),
          (o) => apply(redisBackend, right, o),
        )
      }),
      { numRuns: 100 },
    )
  },
)
