/**
 * After fleet.close() a process exits by itself, also when its Redis is frozen (SIGSTOP) with
 * calls in flight. A node-redis client whose close() began waits for every answer and can no
 * longer be destroyed: its socket kept the process alive for as long as the server stayed frozen.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { command } from '../harness/faults.ts'
import { type RedisServer, startRedis } from '../harness/redis-server.ts'

const root = join(import.meta.dirname, '..', '..')
let server: RedisServer | undefined
let pid: number | undefined
after(async () => {
  if (pid !== undefined) process.kill(pid, 'SIGCONT')
  await server?.stop()
})

/**
 * Far longer than close takes against a frozen server (its QUIT limits, a few seconds); the
 * server stays frozen past it, so a process still alive then would wait for it for ever.
 */
const EXITS_WITHIN = 30_000

for (const injected of [false, true]) {
  test(`a process closing a fleet ${injected ? 'on an injected node-redis client' : "on transport: 'node-redis'"} exits while its Redis is frozen`, async () => {
    server ??= await startRedis()
    const info = String(await command(server.port, 'INFO', 'server'))
    pid = Number(/process_id:(\d+)/.exec(info)![1])
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'test', 'workers', 'close-frozen.ts'),
        JSON.stringify({ url: server.url, pid, injected }),
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    try {
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      const code = await Promise.race([exited, delay(EXITS_WITHIN).then(() => 'still running')])
      assert.match(stdout, /frozen\nclosed\n/, stderr)
      assert.equal(code, 0, stderr)
    } finally {
      child.kill('SIGKILL')
      process.kill(pid, 'SIGCONT')
    }
  })
}
