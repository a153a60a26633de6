import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createFleet, type Fleet, type FleetOptions } from '../../src/index.ts'
import { runWorker } from '../harness/processes.ts'
import { testServers } from '../harness/servers.ts'
import { uniqueNamespace } from '../harness/topologies.ts'

const root = join(import.meta.dirname, '..', '..')

describe('membership across processes (standalone Redis)', () => {
  let options: FleetOptions
  let fleet: Fleet

  before(async () => {
    options = { url: (await testServers()).standalone, namespace: uniqueNamespace('members') }
    fleet = createFleet(options)
  })
  after(() => fleet.close())

  test('a member process killed with SIGKILL disappears from live() within ttl + 10%', async () => {
    const ttl = 1000
    const members = fleet.membership({ ttl })
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'test', 'workers', 'membership-member.ts'),
        JSON.stringify({ options, id: 'doomed', ttl, mode: 'join' }),
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    )
    const exited = new Promise((resolve) => child.once('exit', resolve))
    try {
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (line) => line === 'joined' && resolve())
        void exited.then(() => reject(new Error('the member exited before joining')))
      })
      // Survives several ttls while its heartbeats run.
      await sleep(ttl * 2)
      assert.ok((await members.live()).includes('doomed'))
      child.kill('SIGKILL')
      const killedAt = Date.now()
      await exited
      await sleep(ttl * 1.1 - (Date.now() - killedAt))
      assert.ok(!(await members.live()).includes('doomed'), 'gone within ttl + 10% of the kill')
    } finally {
      child.kill('SIGKILL')
    }
  })

  test('inbox from 0 delivers what was sent while the member process was not running', async () => {
    const members = fleet.membership()
    const sent = [{ task: 1 }, 'two', [3], null]
    for (const message of sent) await members.send('sleeper', message)
    const out = await runWorker(
      'membership-member.ts',
      { options, id: 'sleeper', ttl: 6000, mode: 'inbox', count: sent.length },
      { timeout: 20_000 },
    )
    assert.deepEqual(
      out
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line)),
      sent,
    )
  })

  test('a joined member that closes its fleet leaves, and its process exits on its own', async () => {
    const members = fleet.membership()
    await runWorker(
      'membership-member.ts',
      { options, id: 'polite', ttl: 60_000, mode: 'join-close' },
      { timeout: 20_000 },
    )
    assert.ok(!(await members.live()).includes('polite'))
  })
})
