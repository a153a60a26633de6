import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join, sep } from 'node:path'
import { test } from 'node:test'

// Every error a caller can get for a bad argument or option has a stable code because it is made
// in one place: src/errors.ts (the classes) and src/validate.ts (invalidArgument, invalidOption
// and the checks built on them). This test reads the sources and fails when any other file
// constructs one of those errors itself. A file that must is listed below with its reason.

const SRC = join(import.meta.dirname, '..', '..', 'src')

/** Where these errors are made. */
const MAKERS = new Set(['src/errors.ts', 'src/validate.ts'])

/** The CLI is a program, not the library: its own UsageError and exit codes. */
const CLI = 'src/cli/'

/** Constructions that never reach a caller, or that are not a caller's mistake. */
const INTERNAL: Readonly<Record<string, string>> = {
  'src/cache/entry.ts':
    "the envelope parser's RangeErrors are caught by decodeEntry and become a SerializationError",
  'src/admin/keys.ts':
    "scanKeys' RangeError guards an invariant: redfleet builds every prefix it scans from its own namespace",
}

/**
 * Bad options or arguments still made by hand, in files this change did not own. Each line is
 * debt: convert the file to validate.ts's helpers and delete its line (the test below fails
 * until you do, once the file no longer needs it).
 */
const NOT_YET_CONVERTED: Readonly<Record<string, string>> = {
  'src/topology/cluster.ts': 'cluster seeds: topology is being rewritten on another branch',
  'src/topology/connection.ts': 'url checks: topology is being rewritten on another branch',
  'src/topology/sharded.ts': 'duplicate url, unknown node: topology is being rewritten on another branch',
}

/** Plain `new Error(...)`: fine for internal invariants and stand-in causes, each listed with why. */
const PLAIN_ERRORS: Readonly<Record<string, string>> = {
  'src/durability.ts': 'a missing WAIT/WAITAOF reply stands in as that reply’s error in the DurabilityError',
  'src/fleet.ts': 'internal invariant: nothing asks the memory topology for Redis',
  'src/pubsub/memory.ts': 'internal invariant: only the near cache asks for a node, on Redis only',
  'src/topology/health.ts': 'stand-in causes of a lost connection, translated by translateError',
  'src/topology/connection.ts':
    'a command still waiting for a connection when its fleet closes, translated by translateError',
  'src/transport/deadlines.ts':
    'a command past commandTimeout (timed out, or never sent for want of a connection), translated by translateError',
  'src/transport/node-redis-pipeline.ts':
    'a WAIT that could not be asked where its write ran: it stands in as that reply’s error in the DurabilityError',
  'src/topology/migrating-pipeline.ts':
    'a WAIT that could not be asked where its write ran: it stands in as that reply’s error in the DurabilityError',
  'src/dashboard/server.ts':
    'a failed dashboard sample: the sampler catches it and leaves a gap in the charts',
}

const CODED = /\bnew\s+(TypeError|RangeError|ConfigError|InvalidArgumentError)\s*\(/
const PLAIN = /\bnew\s+Error\s*\(/

/** Each source file's path from the repository root (`src/...`), with its lines of code. */
function sources(): { path: string; lines: string[] }[] {
  return readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => ({
      path: `src/${file.split(sep).join('/')}`,
      lines: readFileSync(join(SRC, file), 'utf8')
        .split('\n')
        .filter((line) => !/^\s*(\/\/|\/\*|\*)/.test(line)),
    }))
    .filter(({ path }) => !MAKERS.has(path) && !path.startsWith(CLI))
}

/** The files that construct with `pattern`, each with its offending lines. */
function constructing(pattern: RegExp): Map<string, string[]> {
  const found = new Map<string, string[]>()
  for (const { path, lines } of sources()) {
    const hits = lines.filter((line) => pattern.test(line)).map((line) => line.trim())
    if (hits.length > 0) found.set(path, hits)
  }
  return found
}

test('only src/errors.ts and src/validate.ts construct TypeError, RangeError, ConfigError, InvalidArgumentError', () => {
  const found = constructing(CODED)
  const unlisted = [...found].filter(([path]) => !(path in INTERNAL) && !(path in NOT_YET_CONVERTED))
  assert.deepEqual(
    unlisted,
    [],
    'make these with invalidArgument(code, message) or invalidOption(message, code) from src/validate.ts ' +
      '(or one of its checks), or list the file with its reason',
  )
  const stale = [...Object.keys(INTERNAL), ...Object.keys(NOT_YET_CONVERTED)].filter(
    (path) => !found.has(path),
  )
  assert.deepEqual(stale, [], 'these files no longer construct such errors: delete their lines here')
})

test('every plain new Error() outside the CLI is listed with why it is no coded error', () => {
  const found = constructing(PLAIN)
  const unlisted = [...found].filter(([path]) => !(path in PLAIN_ERRORS))
  assert.deepEqual(unlisted, [], 'a caller-facing failure wants a coded error (src/errors.ts); else list it')
  const stale = Object.keys(PLAIN_ERRORS).filter((path) => !found.has(path))
  assert.deepEqual(stale, [], 'these files no longer construct a plain Error: delete their lines here')
})
