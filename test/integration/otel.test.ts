/**
 * redfleet/otel against the OpenTelemetry SDK's in-memory exporters: a scripted run on a real
 * fleet, then the spans and metrics it produced are read back and compared with what was done.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { createFleet, type Fleet } from '../../src/index.ts'
import { type Instrumentation, instrument } from '../../src/otel.ts'
import { topologyOptions, uniqueNamespace } from '../harness/topologies.ts'

/** A reader the test collects from on demand. */
class OnDemandReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

interface Point {
  name: string
  attributes: Record<string, unknown>
  value: unknown
}

async function points(reader: OnDemandReader): Promise<Point[]> {
  const { resourceMetrics } = await reader.collect()
  return resourceMetrics.scopeMetrics.flatMap((scope) =>
    scope.metrics.flatMap((metric) =>
      metric.dataPoints.map((point) => ({
        name: metric.descriptor.name,
        attributes: point.attributes as Record<string, unknown>,
        value: point.value,
      })),
    ),
  )
}

for (const topology of ['memory', 'standalone'] as const) {
  describe(`redfleet/otel [${topology}]`, () => {
    const spans = new InMemorySpanExporter()
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
    const reader = new OnDemandReader({
      aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE,
    })
    const meterProvider = new MeterProvider({ readers: [reader] })
    let fleet: Fleet
    let instrumentation: Instrumentation

    before(async () => {
      fleet = createFleet({ namespace: uniqueNamespace('otel'), ...(await topologyOptions(topology)) })
      instrumentation = instrument(fleet, { tracerProvider, meterProvider })
    })
    after(async () => {
      instrumentation.disable()
      await fleet.close()
    })

    test('spans carry the SPEC attributes for store, cache, streams, membership and tracker', async () => {
      spans.reset()
      const store = fleet.store()
      await store.set('a', 1)
      await store.get('a')
      await fleet.cache().fetch('c', () => 'computed')
      const streams = fleet.streams()
      await streams.ensureGroup('workers')
      await streams.publish({ n: 1 })
      const controller = new AbortController()
      await streams.consume('workers', 'w1', () => controller.abort(), { signal: controller.signal })
      const membership = fleet.membership()
      await membership.heartbeat('m1')
      await membership.live()
      const tracker = fleet.tracker()
      await tracker.track('job-1', { n: 1 }, async () => 'done')
      await tracker.stop()

      const finished = spans.getFinishedSpans()
      const byName = (name: string) => finished.find((span) => span.name === name)
      for (const name of [
        'store.set',
        'store.get',
        'cache.fetch',
        'streams.publish',
        'membership.live',
        'tracker.track',
      ]) {
        const span = byName(name)
        assert.ok(span, `no span ${name}; got ${finished.map((s) => s.name).join(', ')}`)
        assert.equal(span.attributes['db.system.name'], 'redis')
        assert.equal(span.attributes['db.operation.name'], name)
        // The fleet's namespace, or a namespace inside it (the cache's own scope).
        assert.match(String(span.attributes['db.namespace']), new RegExp(`^${fleet.namespace}(:|$)`))
      }
      assert.equal(byName('store.get')?.attributes['redfleet.key'], 'a')
      const consumed = byName('streams.consume')
      assert.ok(consumed, 'a consumed delivery is traced')
      assert.equal(consumed.attributes['messaging.consumer.group.name'], 'workers')
      assert.equal(consumed.attributes['messaging.system'], 'redis')
      assert.ok(typeof consumed.attributes['messaging.message.id'] === 'string')
      assert.equal(byName('streams.publish')?.attributes['messaging.destination.name'], 'events')
      // No values, ever: nothing of { n: 1 } or 'computed' appears in any attribute.
      for (const span of finished) {
        for (const value of Object.values(span.attributes)) {
          assert.ok(!String(value).includes('computed'), `${span.name} leaks a value`)
        }
      }
    })

    test('broker, presence, long-running streams calls, membership join/owner/inbox become spans', async () => {
      spans.reset()
      const broker = fleet.broker({ channel: 'otel-news' })
      const unsubscribe = broker.subscribe(() => {})
      await broker.ready()
      await broker.publish('hello')
      unsubscribe()
      const presence = fleet.presence()
      await presence.publish('room', 'hi')
      const streams = fleet.streams()
      const tailing = new AbortController()
      const tail = streams.tail('otel-ch', undefined, () => {}, { signal: tailing.signal })
      const tailEvents = streams.tailEvents(() => {}, { signal: tailing.signal })
      tailing.abort()
      await Promise.all([tail, tailEvents])
      const membership = fleet.membership()
      await membership.join('otel-m').stop()
      await membership.owner('job')
      const reading = new AbortController()
      const inbox = membership.inbox('otel-m', { signal: reading.signal })[Symbol.asyncIterator]()
      const next = inbox.next()
      reading.abort()
      await next

      const finished = spans.getFinishedSpans()
      const byName = (name: string) => finished.find((span) => span.name === name)
      for (const name of [
        'broker.subscribe',
        'broker.ready',
        'broker.publish',
        'presence.publish',
        'streams.tail',
        'streams.tailEvents',
        'membership.join',
        'membership.owner',
        'membership.inbox',
      ]) {
        assert.ok(byName(name), `no span ${name}; got ${finished.map((s) => s.name).join(', ')}`)
      }
      assert.equal(byName('broker.publish')?.attributes['messaging.destination.name'], 'otel-news')
      assert.equal(byName('streams.tail')?.attributes['messaging.destination.name'], 'otel-ch')
      assert.equal(byName('membership.join')?.attributes['redfleet.member'], 'otel-m')
      assert.equal(byName('membership.owner')?.attributes['redfleet.key'], 'job')
      for (const span of finished) {
        for (const value of Object.values(span.attributes)) {
          assert.ok(!String(value).includes('hello'), `${span.name} leaks a value`)
        }
      }
    })

    test('metrics: values match a scripted run (durations, cache requests, fleet gauges)', async () => {
      // A fleet and a meter of its own: every figure below comes from this script alone.
      const own = new OnDemandReader({
        aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE,
      })
      const scripted = createFleet({
        namespace: uniqueNamespace('otel-m'),
        ...(await topologyOptions(topology)),
      })
      const telemetry = instrument(scripted, {
        tracerProvider,
        meterProvider: new MeterProvider({ readers: [own] }),
      })
      try {
        const store = scripted.store()
        await store.set('m', 1)
        await store.get('m')
        await store.get('m')
        const cache = scripted.cache()
        await cache.read('never-written')
        await cache.write('w', 1)
        await cache.read('w')
        await cache.readMulti(['w', 'x', 'y'])
        await scripted.membership().heartbeat('gauge-member')
        const streams = scripted.streams()
        await streams.ensureGroup('g')
        for (let n = 0; n < 3; n++) await streams.publish({ n })

        spans.reset()
        await points(own)
        const all = await points(own)
        // Reading the gauges (members, tracker instances and orphans, streams) is not the
        // application's work: twice collected, it left no span and no operation of its own.
        assert.deepEqual(spans.getFinishedSpans(), [])
        const operations = all
          .filter((p) => p.name === 'redfleet.operation.duration')
          .map((p) => `${p.attributes.primitive}.${p.attributes.method}`)
        assert.deepEqual([...new Set(operations)].sort(), [
          'cache.read',
          'cache.readMulti',
          'cache.write',
          'membership.heartbeat',
          'store.get',
          'store.set',
          'streams.ensureGroup',
          'streams.publish',
        ])
        const durations = (method: string) =>
          all.find(
            (p) =>
              p.name === 'redfleet.operation.duration' &&
              p.attributes.primitive === 'store' &&
              p.attributes.method === method &&
              p.attributes.outcome === 'ok',
          )?.value as { count: number } | undefined
        assert.equal(durations('get')?.count, 2)
        assert.equal(durations('set')?.count, 1)
        const requests = (result: string) =>
          all
            .filter((p) => p.name === 'redfleet.cache.requests' && p.attributes.result === result)
            .reduce((n, p) => n + Number(p.value), 0)
        assert.equal(requests('miss'), 3, 'one single-key miss and two of the multi-key read')
        assert.equal(
          requests('hit') + requests('near'),
          2,
          'one single-key hit and one of the multi-key read',
        )
        const gauge = (name: string, attributes: Record<string, string> = {}) =>
          all.find(
            (p) => p.name === name && Object.entries(attributes).every(([k, v]) => p.attributes[k] === v),
          )?.value
        assert.equal(gauge('redfleet.members.live'), 1)
        assert.equal(gauge('redfleet.tracker.orphans'), 0)
        assert.equal(gauge('redfleet.stream.lag', { group: 'g' }), 3, 'three entries never delivered to g')
        assert.equal(gauge('redfleet.stream.pending', { group: 'g' }), 0)
      } finally {
        telemetry.disable()
        await scripted.close()
      }
    })
  })
}
