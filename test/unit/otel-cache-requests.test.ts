/**
 * `redfleet.cache.requests` by result (docs/telemetry.md): a multi-key read's hits the near cache
 * answered (`nearHits` on its trace) are counted as `near`, the rest of its hits as `hit`, as
 * `cache.stats()` tells them apart.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import { instrument } from '../../src/otel.ts'
import { operationChannel } from '../../src/telemetry.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

/** A reader the test collects from on demand. */
class OnDemandReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

/** `redfleet.cache.requests` by result, as collected now. */
async function requests(reader: OnDemandReader): Promise<Record<string, number>> {
  const { resourceMetrics } = await reader.collect()
  const counts: Record<string, number> = {}
  for (const scope of resourceMetrics.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name !== 'redfleet.cache.requests') continue
      for (const point of metric.dataPoints) counts[String(point.attributes.result)] = point.value as number
    }
  }
  return counts
}

/** One traced call of `cache.<method>` that ends having noted `fields`, as the cache notes them. */
function tracedCall(method: string, namespace: string, fields: Record<string, unknown>): Promise<void> {
  const context = { namespace, topology: 'memory', method }
  return operationChannel(`cache.${method}`).tracePromise(async () => {
    Object.assign(context, fields)
  }, context)
}

test('multi-key reads: nearHits count as near, the other hits as hit, the rest as miss', async () => {
  const reader = new OnDemandReader({
    aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE,
  })
  const instrumentation = instrument(undefined, {
    tracerProvider: new BasicTracerProvider(),
    meterProvider: new MeterProvider({ readers: [reader] }),
  })
  const namespace = uniqueNamespace('otel-cache-requests')
  try {
    await tracedCall('readMulti', namespace, {
      keys: ['a', 'b', 'c', 'd'],
      hits: ['a', 'b', 'c'],
      nearHits: 2,
    })
    await tracedCall('fetchMulti', namespace, { keys: ['a', 'e'], hits: ['a'], nearHits: 1 })
    // Before nearHits was noted (or a cache that does not note it): every hit is a hit.
    await tracedCall('readMulti', namespace, { keys: ['f'], hits: ['f'] })
    await tracedCall('read', namespace, { key: 'a', hit: true, near: true })
    await tracedCall('fetch', namespace, { key: 'b', hit: true, near: false })
    await tracedCall('fetch', namespace, { key: 'z', hit: false, near: false })
    assert.deepEqual(await requests(reader), { hit: 1 + 1 + 1, near: 2 + 1 + 1, miss: 1 + 1 + 1 })
  } finally {
    instrumentation.disable()
  }
})
