/**
 * `instrument(fleet)` ends with its fleet: a fleet made per test or per reload, instrumented and
 * closed without `disable()`, traced every later fleet of its namespace (helper-324: after 100 of
 * them, 101 spans per call). Its fleet's close is still traced, to the end.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { createFleet } from '../../src/index.ts'
import { instrument } from '../../src/otel.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

test('instrument(fleet) stops once its fleet has closed: a later fleet of its namespace is not traced by it', async () => {
  const spans = new InMemorySpanExporter()
  const providers = {
    tracerProvider: new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
    meterProvider: new MeterProvider(),
  }
  const namespace = uniqueNamespace('otel-closed')
  for (let i = 0; i < 3; i++) {
    const fleet = createFleet({ namespace })
    instrument(fleet, providers)
    const members = fleet.membership()
    const joined = members.join('a')
    await fleet.store().set('k', i)
    await fleet.close()
    await joined.stop()
  }
  const names = () => spans.getFinishedSpans().map((span) => span.name)
  // Each fleet's own calls traced once, by its own instrumentation; a join's span ends as its
  // fleet's close has left, so the close is traced to its end.
  assert.equal(names().filter((name) => name === 'store.set').length, 3)
  assert.equal(names().filter((name) => name === 'membership.join').length, 3)
  spans.reset()
  const later = createFleet({ namespace })
  await later.store().get('k')
  assert.deepEqual(names(), [])
  await later.close()
  // Closed before it was instrumented: nothing to trace.
  instrument(later, providers)
  await createFleet({ namespace }).store().get('k')
  assert.deepEqual(names(), [])
})
