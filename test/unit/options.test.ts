import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ConfigError, createFleet } from '../../src/index.ts'

test('topology follows the options: none, one url, several urls, cluster', () => {
  assert.equal(createFleet().topology, 'memory')
  assert.equal(createFleet({ url: 'redis://127.0.0.1:1' }).topology, 'standalone')
  assert.equal(createFleet({ url: ['redis://127.0.0.1:1', 'redis://127.0.0.1:2'] }).topology, 'sharded')
  assert.equal(createFleet({ url: 'redis://127.0.0.1:1', cluster: true }).topology, 'cluster')
  assert.equal(createFleet().namespace, 'rf')
  assert.equal(createFleet({ namespace: 'shop' }).withNamespace('eu').namespace, 'shop:eu')
})

test('bad options throw ConfigError synchronously, naming the option', () => {
  const bad: [object, RegExp][] = [
    [{ url: 'http://x' }, /redis:\/\//],
    [{ url: 'not a url' }, /not a valid/],
    [{ url: [''] }, /url/],
    [{ cluster: true }, /seed/],
    [{ namespace: 'a{b}' }, /namespace/],
    [{ namespace: '' }, /namespace/],
    [{ pool: { size: 0 } }, /pool.size/],
    [{ connectTimeout: -1 }, /connectTimeout/],
    [{ commandTimeout: Number.NaN }, /commandTimeout/],
    [{ reconnectAttempts: 1.5 }, /reconnectAttempts/],
    [{ client: {} }, /ioredis/],
    [{ url: ['redis://a:1', 'redis://a:1/0'] }, /twice/],
  ]
  for (const [options, message] of bad) {
    assert.throws(
      () =>
        createFleet(options as never)
          .store()
          .get('x'),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, `${JSON.stringify(options)} gave ${String(e)}`)
        assert.match((e as Error).message, message)
        return true
      },
    )
  }
})
