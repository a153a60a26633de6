/**
 * The baselines: the fastest ways a careful user would do a scenario's Redis work without
 * redfleet. ioredis as it comes, ioredis with auto-pipelining (commands of one tick in one
 * write), and node-redis 5 and 6 (which pipeline every command of a tick by design). Each
 * scenario runs its raw work once per client, and the runner prints redfleet's ratio to the
 * best of them in each round.
 */

import { Redis } from 'ioredis'
import { createClient as nodeRedis5 } from 'node-redis5'
import { createClient as nodeRedis6 } from 'node-redis6'
import { createFleet, type Fleet } from '../src/index.ts'
import type { BenchContext, Op } from './lib.ts'

/** What the raw variants need of a client; every implementation sends exactly these commands. */
export interface RawClient {
  get(key: string): Promise<string | null>
  set(key: string, value: string): Promise<unknown>
  mget(keys: string[]): Promise<(string | null)[]>
  /** Any command (XADD, XREADGROUP, XACK, ...), reply as Redis sent it (RESP2). */
  call(args: (string | number)[]): Promise<unknown>
  /** Several commands in one round trip (a pipeline, no transaction); replies in order. */
  batch(commands: (string | number)[][]): Promise<unknown[]>
  close(): Promise<void>
}

function ioredisClient(url: string, autoPipelining: boolean): RawClient {
  const redis = new Redis(url, { enableAutoPipelining: autoPipelining })
  return {
    get: (key) => redis.get(key),
    set: (key, value) => redis.set(key, value),
    mget: (keys) => redis.mget(keys),
    call: ([command, ...args]) => redis.call(String(command), ...args),
    async batch(commands) {
      // ioredis' pipeline takes method names: lower case (`xadd`), or it throws.
      const lowered = commands.map(([name, ...args]) => [String(name).toLowerCase(), ...args.map(String)])
      const replies = (await redis.pipeline(lowered).exec()) ?? []
      return replies.map(([error, reply]) => {
        if (error) throw error
        return reply
      })
    },
    close: async () => void redis.disconnect(),
  }
}

type NodeRedis = ReturnType<typeof nodeRedis6>

async function nodeRedisClient(client: NodeRedis): Promise<RawClient> {
  await client.connect()
  return {
    get: (key) => client.get(key) as Promise<string | null>,
    set: (key, value) => client.set(key, value),
    mget: (keys) => client.mGet(keys) as Promise<(string | null)[]>,
    call: (args) => client.sendCommand(args.map(String)),
    batch(commands) {
      const multi = client.multi()
      for (const command of commands) multi.addCommand(command.map(String))
      return multi.execAsPipeline() as Promise<unknown[]>
    },
    close: async () => void client.destroy(),
  }
}

/** The baseline clients by the name the bench prints; the first one is also the noise floor. */
export const CLIENTS: Record<string, (url: string) => Promise<RawClient>> = {
  'raw ioredis': async (url) => ioredisClient(url, false),
  'ioredis autopipelining': async (url) => ioredisClient(url, true),
  'node-redis 5': (url) => nodeRedisClient(nodeRedis5({ url }) as unknown as NodeRedis),
  // node-redis 6 arms an AbortSignal.timeout (5 s) per command by default, which costs it ~5x
  // at c=256 (see README); node-redis 5 has none, so both run without one.
  'node-redis 6': (url) => nodeRedisClient(nodeRedis6({ url, commandOptions: { timeout: undefined } })),
}

export const CLIENT_NAMES: readonly string[] = Object.keys(CLIENTS)

/**
 * A fleet like `ctx.fleet` (same server and namespace, so it reads the same keys) with
 * `transport: 'node-redis'` (the @redis/client 5 dev dependency): redfleet's cost on the
 * node-redis transport.
 */
export async function nodeRedis5Fleet(ctx: BenchContext): Promise<Fleet> {
  const fleet = createFleet({ url: ctx.url, transport: 'node-redis', namespace: ctx.fleet.namespace })
  await fleet.ready()
  ctx.onClose(() => fleet.close())
  return fleet
}

/** Opens a baseline client for one scenario; it is closed when the scenario is done. */
export async function openClient(ctx: BenchContext, name: string): Promise<RawClient> {
  const client = await CLIENTS[name]!(ctx.url)
  ctx.onClose(() => client.close())
  return client
}

/**
 * The same raw work on every baseline client: `make` gets a connected client and returns the
 * op (after any seeding it needs), once per client.
 */
export function perClient(
  make: (client: RawClient, ctx: BenchContext) => Promise<Op>,
): Record<string, (ctx: BenchContext) => Promise<Op>> {
  return Object.fromEntries(
    CLIENT_NAMES.map((name) => [name, async (ctx: BenchContext) => make(await openClient(ctx, name), ctx)]),
  )
}
