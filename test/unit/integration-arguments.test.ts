/**
 * The integrations' factories check what they are given, as every factory does: anything but a
 * cache (keyvStore) or a fleet (convertDataStore) is an InvalidArgumentError naming it, where it
 * was a bare TypeError at the first call (helper-267).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createFleet, InvalidArgumentError } from '../../src/index.ts'
import { convertDataStore } from '../../src/integrations/convert.ts'
import { keyvStore } from '../../src/integrations/keyv.ts'

const refused = (what: RegExp) => (error: unknown) =>
  error instanceof InvalidArgumentError && error.code === 'ERR_INVALID_ARGUMENT' && what.test(error.message)

test('keyvStore takes a cache made by fleet.cache(), nothing else', async () => {
  const fleet = createFleet({ memory: true })
  try {
    for (const wrong of [undefined, {}, fleet, fleet.store()]) {
      assert.throws(
        () => keyvStore(wrong as never),
        refused(/^keyvStore: the first argument must be a cache/),
      )
    }
    assert.equal(typeof keyvStore(fleet.cache()).get, 'function')
  } finally {
    await fleet.close()
  }
})

test('convertDataStore takes a fleet made by createFleet, nothing else', async () => {
  const fleet = createFleet({ memory: true })
  try {
    for (const wrong of [undefined, {}, fleet.store()]) {
      assert.throws(
        () => convertDataStore(wrong as never),
        refused(/^convertDataStore: the first argument must be a fleet/),
      )
    }
    assert.equal(typeof convertDataStore(fleet).get, 'function')
  } finally {
    await fleet.close()
  }
})
