/**
 * `npm run build` (also run by `prepare`, so `npm pack` and git installs carry dist/):
 * compiles src/ into dist/, copies every src/**\/*.lua beside its compiled module, and makes the
 * published declarations independent of the Redis client packages.
 *
 * Why the last step: redfleet's internal modules are typed against ioredis (and node-redis), and
 * their declarations end up reachable from the public ones (a module exporting a public type
 * also declares internal helpers). A user without those packages — the memory-only case, which
 * must work with no Redis client installed — would get `TS2307: Cannot find module 'ioredis'`.
 * No public type is an ioredis type (`FleetOptions.client` is `unknown`), so in the published
 * .d.ts the client types are declared opaque (`any`) instead of imported. The build fails if a
 * declaration still names a client package afterwards.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')
const dist = join(root, 'dist')

/** Packages that are optional peers: the published declarations must not need them. */
const CLIENT_PACKAGES = ['ioredis', 'redis', '@redis/client'] as const

const packagePattern = CLIENT_PACKAGES.map((name) => name.replace(/[/@]/g, '\\$&')).join('|')
const quoted = `['"](?:${packagePattern})['"]`

/** Every way tsc's declaration emit can refer to a client package's types. */
const importNamed = new RegExp(`^import (type )?\\{([^}]*)\\} from ${quoted};?$`, 'gm')
const importNamespace = new RegExp(`^import type \\* as (\\w+) from ${quoted};?$`, 'gm')
const exportNamed = new RegExp(`^export (type )?\\{([^}]*)\\} from ${quoted};?$`, 'gm')
const inlineImport = new RegExp(`import\\(${quoted}\\)(?:\\.[\\w$]+)*`, 'g')
const anyReference = new RegExp(
  `(?:\\bfrom\\s*|\\bimport\\s*\\(\\s*|\\brequire\\s*\\(\\s*|^import\\s+)${quoted}`,
  'm',
)

const OPAQUE = '/* a Redis client type: internal to redfleet, opaque in the published declarations */'

/** `A, type B as C` → the local names it binds: `['A', 'C']`. */
function boundNames(specifiers: string): { imported: string; local: string }[] {
  return specifiers
    .split(',')
    .map((part) => part.trim().replace(/^type\s+/, ''))
    .filter((part) => part !== '')
    .map((part) => {
      const [imported, local = imported] = part.split(/\s+as\s+/) as [string, string?]
      return { imported, local }
    })
}

/** The declaration text with every client-package reference replaced by an opaque type. */
function detachClientTypes(text: string): string {
  return text
    .replace(importNamed, (_, _type, specifiers: string) =>
      boundNames(specifiers)
        .map(({ local }) => `${OPAQUE} type ${local} = any;`)
        .join('\n'),
    )
    .replace(importNamespace, (_, name: string) => `${OPAQUE} declare const ${name}: any;`)
    .replace(exportNamed, (_, _type, specifiers: string) =>
      boundNames(specifiers)
        .map(({ local }) => `${OPAQUE} export type ${local} = any;`)
        .join('\n'),
    )
    .replace(inlineImport, 'any')
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) throw new Error(`build: ${command} ${args.join(' ')} failed (${result.status})`)
}

function build(): void {
  rmSync(dist, { recursive: true, force: true })
  // The type check is `npm run typecheck`'s (CI runs both); emitting alone is 4x cheaper.
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  run(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--noCheck'])

  const files = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })
  for (const file of files.filter((f) => f.endsWith('.lua'))) {
    cpSync(join(root, 'src', file), join(dist, file))
  }

  const leftovers: string[] = []
  for (const file of readdirSync(dist, { recursive: true, encoding: 'utf8' })) {
    if (!file.endsWith('.d.ts')) continue
    const path = join(dist, file)
    const text = readFileSync(path, 'utf8')
    const detached = detachClientTypes(text)
    if (detached !== text) writeFileSync(path, detached)
    if (anyReference.test(detached.replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, ''))) leftovers.push(file)
  }
  if (leftovers.length > 0) {
    throw new Error(`build: declarations still refer to a Redis client package: ${leftovers.join(', ')}`)
  }
}

build()
