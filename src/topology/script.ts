import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isNoScript } from '../errors.ts'
import { keySlot, SLOT_COUNT } from './slot.ts'
import type { Client } from './types.ts'

/**
 * A Lua script, sent with its source (EVAL, which also caches it on the node) until it has run
 * on the node of its keys, and by SHA (EVALSHA) from then on. Not EVALSHA first with EVAL on
 * NOSCRIPT: that EVAL would go out after the commands sent meanwhile, and a `get` made right
 * after a first `increment` or `setIfNotExists` would not see it (SPEC §2 call order). Known
 * per client and per cluster slot of the first key (a cluster client reaches many nodes; on one
 * node that is at most one EVAL per slot), so no client needs to say what it is. After a
 * restart or SCRIPT FLUSH, a NOSCRIPT falls back to EVAL once.
 */
export class Script {
  readonly sha: string
  /** Per client, the slots whose node has run the script (1). */
  readonly #ran = new WeakMap<object, Uint8Array>()

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex')
  }

  /** True once the script has run on the node of `key` through `client`: EVALSHA finds it there. */
  ranOn(client: Client, key: string): boolean {
    return this.#ran.get(client)?.[keySlot(key)] === 1
  }

  /** Notes that the script ran on the node of `key` through `client` (sent with its source). */
  ran(client: Client, key: string): void {
    let ran = this.#ran.get(client)
    if (ran === undefined) {
      ran = new Uint8Array(SLOT_COUNT)
      this.#ran.set(client, ran)
    }
    ran[keySlot(key)] = 1
  }

  async run(client: Client, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    if (!this.ranOn(client, keys[0]!)) {
      const reply = await client.eval(this.lua, keys.length, ...keys, ...args)
      this.ran(client, keys[0]!)
      return reply
    }
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args)
    } catch (error) {
      if (!isNoScript(error)) throw error
      return client.eval(this.lua, keys.length, ...keys, ...args)
    }
  }
}

/**
 * A script kept in its own `.lua` file beside the module that uses it (one atomic step per file,
 * named by what it does and how many keys it takes, with a KEYS/ARGV/returns header), read once
 * when that module loads: `const CLAIM = scriptFile(new URL('./claim-2.lua', import.meta.url))`.
 * The build copies `.lua` files into dist/ at the same paths.
 */
export function scriptFile(url: URL): Script {
  return new Script(readFileSync(url, 'utf8'))
}
