import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { instrument } from '../../src/otel.ts'
import { type BenchContext, measureThroughput, median, type Op, type Scenario } from '../lib.ts'

const duration = Number(process.env.BENCH_DURATION ?? 600)
const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
const value = { id: 42, name: 'redfleet', tags: ['a', 'b', 'c'] }

/**
 * What tracing costs `store.get`: with nobody subscribed to the TracingChannels (every call pays
 * one property read), and with `redfleet/otel` attached to the OpenTelemetry SDK (a span and a
 * histogram point per call, spans kept in memory). Instrumentation is process-wide, so it is
 * switched on only around its own measurement; rounds alternate the order. The ratio is the
 * median over rounds of traced / untraced ops/s.
 */
async function measure(ctx: BenchContext): Promise<Record<string, string | number>[]> {
  const store = ctx.fleet.store()
  await store.set('k', value)
  const get: Op = () => store.get('k')
  const spans = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
  const meterProvider = new MeterProvider()
  const traced = async (concurrency: number) => {
    const telemetry = instrument(ctx.fleet, { tracerProvider, meterProvider })
    try {
      return await measureThroughput(get, concurrency, duration)
    } finally {
      telemetry.disable()
      spans.reset()
    }
  }
  const rows: Record<string, string | number>[] = []
  for (const concurrency of [1, 256]) {
    const plain: number[] = []
    const withOtel: number[] = []
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 0) {
        plain.push(await measureThroughput(get, concurrency, duration))
        withOtel.push(await traced(concurrency))
      } else {
        withOtel.push(await traced(concurrency))
        plain.push(await measureThroughput(get, concurrency, duration))
      }
    }
    rows.push({
      concurrency,
      'store get, no subscriber ops/s': Math.round(median(plain)),
      'with redfleet/otel + SDK ops/s': Math.round(median(withOtel)),
      'traced / untraced': median(withOtel.map((x, r) => x / plain[r]!)).toFixed(2),
    })
  }
  await meterProvider.shutdown()
  return rows
}

/** The untraced path against raw clients is every store scenario's ratio (store.ts). */
export const scenarios: Scenario[] = [{ name: 'telemetry overhead', measure }]
