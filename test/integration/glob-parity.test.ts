/**
 * The memory topology's glob matcher (src/cache/glob.ts, used by its deleteMatched) answers as
 * Redis does, asked through pattern pub/sub on a real server: PUBLISH counts the pattern
 * subscription when Redis' own matcher says the channel matches.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import fc from 'fast-check'
import { Redis } from 'ioredis'
import { escapeGlob, globMatcher } from '../../src/cache/glob.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

let publisher: Redis
let subscriber: Redis
before(async () => {
  const { standalone } = await testServers()
  publisher = new Redis(standalone)
  subscriber = new Redis(standalone)
})
after(() => {
  publisher.disconnect()
  subscriber.disconnect()
})

// A prefix of this file's own, so no other subscriber of the shared server is counted.
const prefix = `${uniqueNamespace('glob')}:`

async function redisMatches(glob: string, text: string): Promise<boolean> {
  const pattern = escapeGlob(prefix) + glob
  await subscriber.psubscribe(pattern)
  try {
    return (await publisher.publish(prefix + text, 'x')) > 0
  } finally {
    await subscriber.punsubscribe(pattern)
  }
}

const globChars = fc.constantFrom('a', 'b', 'z', 'é', '*', '?', '[', ']', '-', '^', '\\', ':')
const textChars = fc.constantFrom('a', 'b', 'z', 'é', '😀', '*', '[', ']', '-', '^', '\\', ':')

test('random globs match the texts Redis matches, byte for byte', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.string({ unit: globChars, maxLength: 8 }),
      fc.string({ unit: textChars, maxLength: 6 }),
      async (glob, text) => {
        assert.equal(globMatcher(escapeGlob(prefix) + glob)(prefix + text), await redisMatches(glob, text))
      },
    ),
    { numRuns: 400 },
  )
})

test('the cases where a RegExp translation, or unsigned bytes, differed from Redis', async () => {
  const cases: [string, string][] = [
    ['?', 'é'], // one byte, not one character
    ['??', 'é'],
    ['[é]', 'é'],
    ['a[b', 'ab'], // an unclosed class runs to the end of the pattern
    ['a[b', 'a[b'],
    ['a[bc', 'ab'],
    ['[z-a]', 'm'], // a reversed range is the range
    ['x[a-]', 'x]'], // [a-] is the range a..]
    ['x[a-]', 'x-'],
    ['[a-é', '^'], // range bounds compare as signed C chars: é's first byte (-61) is below a
    ['[a-é', 'b'],
    ['[é-a]', '^'],
  ]
  for (const [glob, text] of cases) {
    assert.equal(globMatcher(glob)(text), await redisMatches(glob, text), `${glob} on ${text}`)
  }
})
