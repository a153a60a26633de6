import type { Fleet } from '../../src/index.ts'
import { CLIENT_NAMES, nodeRedis5Fleet, openClient, perClient, type RawClient } from '../clients.ts'
import { bestOf, measureRounds, median, pairedRatio, type Scenario } from '../lib.ts'

const envelope = { type: 'order.created', id: 'o-42', at: 1_700_000_000_000, data: { total: 12.5, items: 3 } }

/**
 * publish(env, channels): redfleet writes the main stream and each channel with `MAXLEN ~`,
 * one pipeline per node. The raw baselines send the same XADDs (same caps, same JSON field)
 * in one pipeline of each client.
 */
function publishScenario(channels: number): Scenario {
  const names = Array.from({ length: channels }, (_, i) => `ch${i}`)
  return {
    name: `streams publish (${channels} channel${channels === 1 ? '' : 's'})`,
    concurrency: [1, 64],
    variants: {
      ...perClient(async (client, ctx) => {
        const main = `${ctx.namespace}:streams:events`
        const keys = names.map((n) => `${ctx.namespace}:streams:channel:${n}`)
        return async () => {
          const text = JSON.stringify(envelope)
          const replies = await client.batch([
            ['XADD', main, 'MAXLEN', '~', 1_000_000, '*', 'env', text],
            ...keys.map((key) => ['XADD', key, 'MAXLEN', '~', 500, '*', 'env', text]),
          ])
          return replies[0]
        }
      }),
      redfleet: async (ctx) => {
        const streams = ctx.fleet.streams()
        return () => streams.publish(envelope, names)
      },
      // The same fleet on an injected node-redis 5 client: redfleet's cost on that transport.
      'redfleet on node-redis 5': async (ctx) => {
        const streams = (await nodeRedis5Fleet(ctx)).streams()
        return () => streams.publish(envelope, names)
      },
    },
  }
}

type StreamEntries = [id: string, fields: string[]][]

/**
 * The entries of an XREADGROUP reply on one stream, in the shape each client gives it: RESP2's
 * `[[key, entries]]` (ioredis 5, node-redis 5), or RESP3's map, which ioredis 6 flattens to
 * `[key, entries]` and node-redis 6 makes an object `{ key: entries }`. null: nothing new.
 */
function entriesOf(reply: unknown): StreamEntries {
  if (reply === null) return []
  if (!Array.isArray(reply)) return Object.values(reply as Record<string, StreamEntries>)[0] ?? []
  return (Array.isArray(reply[0]) ? reply[0][1] : reply[1]) as StreamEntries
}

/**
 * The raw consumer loop doing the same work as `consume`, on `reader` (a connection of its own of
 * a baseline client): XREADGROUP COUNT batch, decode each entry's JSON, call the handler, XACK
 * the batch, in a new group. Returns entries per second.
 */
async function rawConsume(reader: RawClient, key: string, group: string, batch: number, total: number) {
  await reader.call(['XGROUP', 'CREATE', key, group, '0'])
  const started = performance.now()
  let handled = 0
  while (handled < total) {
    const read = ['XREADGROUP', 'GROUP', group, 'c', 'COUNT', batch, 'BLOCK', 1000, 'STREAMS', key, '>']
    const entries = entriesOf(await reader.call(read))
    const ids: string[] = []
    for (const [id, fields] of entries) {
      JSON.parse(fields[1]!)
      handled++
      ids.push(id)
    }
    if (ids.length > 0) await reader.call(['XACK', key, group, ...ids])
  }
  return (handled / (performance.now() - started)) * 1000
}

async function fleetConsume(fleet: Fleet, group: string, batch: number, total: number) {
  const streams = fleet.streams()
  const controller = new AbortController()
  let handled = 0
  const started = performance.now()
  await streams.consume(
    group,
    'c',
    () => {
      if (++handled === total) controller.abort()
    },
    { batch, signal: controller.signal },
  )
  return (handled / (performance.now() - started)) * 1000
}

/**
 * consume(): every side reads the same pre-filled entries in a group of its own made for each
 * measurement, which replays the stream from its start, so all do identical work every time.
 * Measured as the throughput scenarios are (measureRounds: a warm-up round, then rounds rotated;
 * ratios paired per round): the raw loop on every baseline client, the first one again (the
 * noise floor), redfleet, and the same fleet on node-redis 5 (same namespace, so the same stream).
 */
function consumeScenario(batch: number, total: number): Scenario {
  const name = `streams consume (batch ${batch})`
  return {
    name,
    async measure(ctx) {
      const rawKey = `${ctx.namespace}:streams:events`
      const text = JSON.stringify(envelope)
      const streams = ctx.fleet.streams()
      for (let start = 0; start < total; start += 1000) {
        const pipe = ctx.raw.pipeline()
        for (let i = 0; i < 1000; i++) pipe.xadd(rawKey, '*', 'env', text)
        await pipe.exec()
        await Promise.all(Array.from({ length: 1000 }, () => streams.publish(envelope)))
      }
      const readers = new Map<string, RawClient>()
      for (const name of CLIENT_NAMES) readers.set(name, await openClient(ctx, name))
      const onNodeRedis = await nodeRedis5Fleet(ctx)
      const floor = CLIENT_NAMES[0]!
      const again = `${floor} (again)`
      let groups = 0
      const group = () => `g${groups++}`
      const sides = new Map<string, () => Promise<number>>([
        ...CLIENT_NAMES.map(
          (name) => [name, () => rawConsume(readers.get(name)!, rawKey, group(), batch, total)] as const,
        ),
        [again, () => rawConsume(readers.get(floor)!, rawKey, group(), batch, total)],
        ['redfleet', () => fleetConsume(ctx.fleet, group(), batch, total)],
        ['redfleet on node-redis 5', () => fleetConsume(onNodeRedis, group(), batch, total)],
      ])
      const samples = await measureRounds([...sides.keys()], (side) => sides.get(side)!(), name)
      const best = bestOf(CLIENT_NAMES, samples)!
      return [...samples].map(([side, xs]) => {
        const against = side === again ? floor : side === 'redfleet on node-redis 5' ? 'node-redis 5' : best
        return {
          side,
          'entries/s': Math.round(median(xs)),
          ratio: pairedRatio(xs, samples.get(against)!).toFixed(2),
          'ratio to':
            side === again
              ? `${floor} (noise floor)`
              : `${against}${against === best ? ' (best raw loop)' : ''}`,
        }
      })
    },
  }
}

export const scenarios: Scenario[] = [
  publishScenario(1),
  publishScenario(3),
  consumeScenario(1, 10_000),
  consumeScenario(64, 100_000),
]
