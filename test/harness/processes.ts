import { spawn } from 'node:child_process'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..', '..')

/** A worker script run as a separate Node process; resolves with its stdout when it exits 0. */
export function runWorker(script: string, args: unknown, { timeout = 60_000 } = {}): Promise<string> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'test', 'workers', script), JSON.stringify(args)],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString()
  })
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`worker ${script} did not finish in ${timeout} ms\n${stderr}`))
    }, timeout)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(stdout)
      else reject(new Error(`worker ${script} exited with ${code ?? signal}\n${stderr}`))
    })
  })
}
