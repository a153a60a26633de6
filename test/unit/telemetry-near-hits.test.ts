/**
 * Near-cache hits in the cache's traces and metrics agree with `cache.stats().nearHits`
 * (docs/telemetry.md, docs/cache.md): `fetch` notes `near` as `read` does; `readMulti` and
 * `fetchMulti` note `nearHits` (how many of their `hits` the near cache answered), which
 * redfleet/otel counts as `near` in `redfleet.cache.requests`. On memory and on a real Redis.
 */
import assert from 'node:assert/strict'
import diagnosticsChannel from 'node:diagnostics_channel'
import { after, before, describe, test } from 'node:test'
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import type { Cache } from '../../src/cache/types.ts'
import { createFleet, type Fleet } from '../../src/index.ts'
import { type Instrumentation, instrument } from '../../src/otel.ts'
import { topologyOptions, uniqueNamespace } from '../harness/topologies.ts'

class OnDemandReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

async function requests(reader: OnDemandReader): Promise<Record<string, number>> {
  const { resourceMetrics } = await reader.collect()
  const counts: Record<string, number> = { hit: 0, near: 0, miss: 0 }
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== 'redfleet.cache.requests') continue
      for (const point of metric.dataPoints) counts[String(point.attributes.result)] = point.value as number
    }
  }
  return counts
}

interface Ended {
  method: string
  namespace: string
  hit?: boolean
  near?: boolean
  hits?: string[]
  nearHits?: number
}

/** The cache traces of `namespace` that end while `fn` runs (asyncEnd), in order. */
async function endedDuring(namespace: string, fn: () => Promise<void>): Promise<Ended[]> {
  const ended: Ended[] = []
  const channels = ['fetch', 'readMulti', 'fetchMulti'].map((method) =>
    diagnosticsChannel.tracingChannel(`redfleet:cache:${method}`),
  )
  const handlers = {
    start() {},
    end() {},
    asyncStart() {},
    asyncEnd(message: unknown) {
      const context = message as Ended
      if (context.namespace === namespace) ended.push({ ...context })
    },
    error() {},
  }
  for (const channel of channels) channel.subscribe(handlers)
  try {
    await fn()
  } finally {
    for (const channel of channels) channel.unsubscribe(handlers)
  }
  return ended
}

/** Reads `key` until the near cache answers it (a Redis near cache goes online on first use). */
async function nearHolds(cache: Cache, key: string): Promise<void> {
  for (let n = 0; n < 100; n++) {
    const before = cache.stats().nearHits
    await cache.read(key)
    if (cache.stats().nearHits > before) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  assert.fail(`the near cache never answered ${key}`)
}

for (const topology of ['memory', 'standalone'] as const) {
  describe(`near hits in traces and metrics [${topology}]`, () => {
    const reader = new OnDemandReader({
      aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE,
    })
    let fleet: Fleet
    let instrumentation: Instrumentation

    before(async () => {
      fleet = createFleet({
        namespace: uniqueNamespace('telemetry-near'),
        ...(await topologyOptions(topology)),
      })
      instrumentation = instrument(fleet, {
        tracerProvider: new BasicTracerProvider(),
        meterProvider: new MeterProvider({ readers: [reader] }),
      })
    })
    after(async () => {
      instrumentation.disable()
      await fleet.close()
    })

    test('fetch, readMulti and fetchMulti report their near hits as stats() counts them', async () => {
      const name = uniqueNamespace('near')
      const cache = fleet.cache({ namespace: name, near: { max: 100 } })
      await cache.write('a', 'A')
      await cache.write('b', 'B')
      await nearHolds(cache, 'a')
      await nearHolds(cache, 'b')
      const stats = cache.stats()
      const counted = await requests(reader)
      const ended = await endedDuring(`${fleet.namespace}:cache:${name}`, async () => {
        assert.equal(await cache.fetch('a', () => 'computed'), 'A')
        const read = await cache.readMulti(['a', 'b', 'missing'])
        assert.deepEqual(
          [...read],
          [
            ['a', 'A'],
            ['b', 'B'],
          ],
        )
        const fetched = await cache.fetchMulti(['a', 'filled'], {}, (key) => `computed ${String(key)}`)
        assert.deepEqual(
          [...fetched],
          [
            ['a', 'A'],
            ['filled', 'computed filled'],
          ],
        )
      })
      assert.deepEqual(
        ended.map(({ method, hit, near, hits, nearHits }) => ({ method, hit, near, hits, nearHits })),
        [
          { method: 'fetch', hit: true, near: true, hits: undefined, nearHits: undefined },
          { method: 'readMulti', hit: undefined, near: undefined, hits: ['a', 'b'], nearHits: 2 },
          { method: 'fetchMulti', hit: undefined, near: undefined, hits: ['a'], nearHits: 1 },
        ],
      )
      const nearHits = cache.stats().nearHits - stats.nearHits
      assert.equal(nearHits, 4, 'stats: 1 + 2 + 1 near hits')
      const now = await requests(reader)
      assert.deepEqual(
        { hit: now.hit! - counted.hit!, near: now.near! - counted.near!, miss: now.miss! - counted.miss! },
        { hit: 0, near: nearHits, miss: 2 },
        'redfleet.cache.requests agrees with stats()',
      )
    })
  })
}
