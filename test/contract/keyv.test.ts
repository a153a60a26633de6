/**
 * Keyv's own adapter compliance suite (`@keyv/test-suite`: api, values, namespaces) on a redfleet
 * cache, on every topology. The suite is written for vitest; a small shim hands it node:test's
 * `it`/`beforeEach`/`afterEach` and vitest's standalone `expect`.
 */
import { afterEach, before, beforeEach, test } from 'node:test'
import keyvTestSuite from '@keyv/test-suite'
import Keyv from 'keyv'
import { expect } from 'vitest'
import type { Cache } from '../../src/index.ts'
import { keyvStore } from '../../src/integrations/keyv.ts'
import { forEachTopology } from '../harness/topologies.ts'

/** What the suite uses of vitest's module: `it` with a context holding `expect`, and the hooks. */
const vitestShim = {
  it: (name: string, body: (context: { expect: typeof expect }) => unknown) =>
    test(name, async () => {
      await body({ expect })
    }),
  beforeEach: (hook: () => unknown) =>
    beforeEach(async () => {
      await hook()
    }),
  afterEach: (hook: () => unknown) =>
    afterEach(async () => {
      await hook()
    }),
}

forEachTopology('@keyv/test-suite on redfleet/keyv', (env) => {
  let cache: Cache
  before(async () => {
    cache = (await env.fleet()).cache({ namespace: 'keyv-suite' })
  })
  keyvTestSuite(vitestShim as never, Keyv, () => keyvStore(cache))
})
