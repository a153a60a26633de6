import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { messageOf } from '../errors.ts'
import type { Client } from './types.ts'

/**
 * A Lua script sent by SHA (EVALSHA) and loaded on demand: the first call on a node that
 * does not know it falls back to EVAL, which also caches it there for the next call.
 */
export class Script {
  readonly sha: string

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex')
  }

  async run(client: Client, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args)
    } catch (error) {
      if (!messageOf(error).startsWith('NOSCRIPT')) throw error
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
