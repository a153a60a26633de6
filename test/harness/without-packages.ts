import { spawn } from 'node:child_process'
import { join } from 'node:path'

/**
 * Runs `script` in a child process where `packages` cannot be imported (a loader hook, exactly
 * as when they are absent), with `createFleet` and `report(fleet)` in scope; `report` prints the
 * error of a first call with its outcome (and closes the fleet). Resolves with what it printed.
 */
export async function runWithout(packages: string[], script: string): Promise<string> {
  const hook = `data:text/javascript,${encodeURIComponent(`
    import { register } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(\`
      const missing = ${JSON.stringify(packages)};
      export async function resolve(specifier, context, next) {
        if (missing.includes(specifier)) {
          throw Object.assign(new Error('Cannot find package ' + specifier), { code: 'ERR_MODULE_NOT_FOUND' });
        }
        return next(specifier, context);
      }\`));`)}`
  const prelude = `
    import { createFleet } from ${JSON.stringify(join(import.meta.dirname, '../../src/index.ts'))};
    async function report(fleet) {
      try {
        await fleet.store().get('k');
      } catch (e) {
        console.log(e.name + ': ' + e.message + ' [outcome ' + e.outcome + ']');
      }
      await fleet.close();
    }`
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--import', hook, '--input-type=module', '-e', `${prelude}\n${script}`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  let out = ''
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk
  })
  await new Promise((resolve) => child.once('exit', resolve))
  return out
}
