/**
 * `instrument()` checks its arguments as a factory does (SPEC §1): a wrong one used to be taken
 * as it came and trace nothing (options given first, a misspelt provider), or fail with a raw
 * TypeError of OpenTelemetry's ("getTracer is not a function").
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
import { ConfigError, createFleet } from '../../src/index.ts'
import { instrument } from '../../src/otel.ts'

const tracerProvider = new BasicTracerProvider()

test('the options given first, or anything but a fleet, is refused naming the mistake', () => {
  assert.throws(
    () => instrument({ tracerProvider } as never),
    (error: Error & { code?: string }) =>
      error instanceof TypeError &&
      error.code === 'ERR_INVALID_ARGUMENT' &&
      /options go second: instrument\(fleet, \{ tracerProvider \}\)/.test(error.message),
  )
  assert.throws(() => instrument('shop' as never), { code: 'ERR_INVALID_ARGUMENT' })
})

test('a misspelt or wrong option is a ConfigError naming it', async () => {
  const fleet = createFleet({ memory: true })
  try {
    assert.throws(
      () => instrument(fleet, { tracerProvidr: tracerProvider } as never),
      (error) =>
        error instanceof ConfigError &&
        error.code === 'ERR_UNKNOWN_OPTION' &&
        /did you mean "tracerProvider"/.test(error.message),
    )
    assert.throws(
      () => instrument(fleet, { tracerProvider: {} as never }),
      (error) =>
        error instanceof ConfigError &&
        error.code === 'ERR_INVALID_OPTION' &&
        /tracerProvider must be an OpenTelemetry provider \(an object with getTracer\(\)\), got an object/.test(
          error.message,
        ),
    )
    assert.throws(() => instrument(fleet, { meterProvider: 1 as never }), { code: 'ERR_INVALID_OPTION' })
    assert.throws(() => instrument(fleet, [] as never), { code: 'ERR_INVALID_OPTION' })
    // What is right is taken: a fleet (or a view of one), or nothing.
    instrument(fleet, { tracerProvider }).disable()
    instrument(fleet.withNamespace('view')).disable()
    instrument().disable()
    instrument(null, { tracerProvider }).disable()
  } finally {
    await fleet.close()
  }
})
