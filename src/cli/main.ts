/**
 * The `redfleet` command (SPEC §9):
 *   redfleet <demo|status|dashboard|dlq|orphans|bench> [--url URL[,URL...]] [--cluster] [--namespace NS]
 * Exit code 0 on success, 2 on usage errors, 1 on failures, with a one-line reason on stderr.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type AddHelpTextContext, Argument, Command, CommanderError } from 'commander'
import { bench, benchAvailable } from './bench.ts'
import { DLQ_ACTIONS, type DlqAction, fleetOptions, UsageError } from './flags.ts'
import { reasonLine } from './status-format.ts'

/** How long a finished command may take to let go of its last handle before it is made to exit. */
const EXIT_GRACE = 3000

// Each command's module (and with it the library and its clients) is imported when it runs:
// --help, --version and usage errors answer without loading any of it.

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  return String(pkg.version)
}

function program(output: Output): Command {
  const cli = new Command('redfleet')
    .description('Look after a redfleet fleet: demo, status, dashboard, dead letters and orphans.')
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show this help (redfleet <command> --help for one command)')
    .helpCommand(false)
    .option('--url <url[,url...]>', 'Redis url(s) of the fleet (default: $REDIS_URL)')
    .option('--cluster', 'the urls are Redis Cluster seed nodes')
    .option('--namespace <ns>', 'the fleet namespace (default: rf)')
    .configureHelp({ showGlobalOptions: true })
    // Errors become exceptions with one line of ours, never commander's multi-line output.
    .exitOverride()
    .configureOutput({ writeOut: (text) => output.out(text), writeErr: () => {}, outputError: () => {} })

  cli
    .command('demo')
    .description('several worker processes sharing one fleet, each primitive at work, one killed mid-job')
    .action(async (_, cmd: Command) =>
      (await import('./demo.ts')).runDemo(fleetOptions(cmd.optsWithGlobals())),
    )

  cli
    .command('status')
    .description('a snapshot of a fleet: members, tracker instances, jobs, orphans, streams, keys')
    .option('--json', 'print JSON (one document per line with --watch)')
    .option('--watch [seconds]', 'print a new snapshot every few seconds (default 2) until Ctrl-C')
    .action(async (_, cmd: Command) => (await import('./status.ts')).status(cmd.optsWithGlobals()))

  cli
    .command('dashboard')
    .description('the fleet, live, as a web page')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', '7878')
    .option(
      '--token <token>',
      'every request must carry it, as "Authorization: Bearer <token>" or ?token=<token> (default: $REDFLEET_DASHBOARD_TOKEN)',
    )
    .option('--allow-actions', 'allow actions that change data (replay/purge dead letters, release orphans)')
    .action(async (_, cmd: Command) => (await import('./serve.ts')).dashboard(cmd.optsWithGlobals()))

  cli
    .command('dlq')
    .description('dead letters of a channel: list them, replay them to where they came from, or purge them')
    .addArgument(new Argument('<action>', DLQ_ACTIONS.join(', ')).choices(DLQ_ACTIONS))
    .argument('<deadLetterChannel>', 'the dead-letter channel, e.g. billing:dead')
    .option('--json', 'print JSON')
    .option('--ids <ids>', 'only these dead-letter entry ids, comma-separated (replay, purge)')
    .option('--limit <n>', 'at most n dead letters (list; default 100)')
    .action(async (action: DlqAction, channel: string, _, cmd: Command) =>
      (await import('./dlq.ts')).dlq(action, channel, cmd.optsWithGlobals()),
    )

  cli
    .command('orphans')
    .description('jobs of tracker instances that are no longer live')
    .option('--json', 'print JSON')
    .action(async (_, cmd: Command) => (await import('./dlq.ts')).orphans(cmd.optsWithGlobals()))

  // The suite ships with the source repository: an installed package does not advertise it.
  // Its arguments, flags included, are the suite's: it has no unknown flags.
  const benchCommand = cli
    .command('bench', { hidden: !benchAvailable() })
    .description('the benchmark suite (source checkout only)')
    .argument('[args...]', 'passed to bench/run.ts (e.g. a scenario filter)')
    .allowUnknownOption()
    .action((args: string[], _, cmd: Command) => {
      // The suite measures against a private redis-server of its own, never the fleet's.
      const { url, cluster, namespace } = cmd.optsWithGlobals()
      if (url !== undefined || cluster !== undefined || namespace !== undefined) {
        throw new UsageError(
          'bench starts a redis-server of its own: --url, --cluster and --namespace do not apply',
        )
      }
      return bench(args)
    })

  // Reached only when no command matched: name what was wrong in one line.
  cli.allowExcessArguments().action((_, cmd: Command) => {
    throw new UsageError(cmd.args.length === 0 ? 'a command is needed' : `unknown command '${cmd.args[0]}'`)
  })
  // Commander answers --help (exit 0) before it looks at what else the command line holds:
  // `redfleet bogus --help` and `redfleet status --bogus --help` printed help. An unknown command
  // or flag is the same usage error with --help as without it, named the same way.
  cli.on('beforeAllHelp', ({ command }: AddHelpTextContext) => {
    const flag = command === benchCommand ? undefined : unknownFlag(command)
    if (flag !== undefined) throw new UsageError(`unknown option '${flag}'`)
    // The help flag may come first (`redfleet -h bogus`): the command is the first operand.
    const first = cli.args.find((arg) => arg !== '-h' && arg !== '--help')
    const known = cli.commands.some((c) => c.name() === first)
    if (command === cli && first !== undefined && !first.startsWith('-') && !known) {
      throw new UsageError(`unknown command '${first}'`)
    }
  })
  return cli
}

/**
 * The first unknown flag among what a command did not parse (`command.args`: its operands, then,
 * from the first unknown flag on, everything else), not counting the help flag itself; none after
 * `--`. As commander has it, a negative number is an operand of a command without subcommands.
 */
function unknownFlag(command: Command): string | undefined {
  const leaf = command.commands.length === 0
  for (const arg of command.args) {
    if (arg === '--') return undefined
    if (arg === '-h' || arg === '--help' || (leaf && /^-(\d+|\d*\.\d+)([eE][+-]?\d+)?$/.test(arg))) continue
    if (arg.length > 1 && arg.startsWith('-')) return arg
  }
  return undefined
}

/** The one line a commander error deserves, without its "error: " prefix. */
function commanderReason(error: CommanderError): string {
  return error.message.replace(/^error: /, '').split('\n')[0]!
}

/** The library's errors name its options (`cluster: true`); here they are the command's flags. */
function inFlags(reason: string): string {
  return reason.replaceAll('`cluster: true`', '--cluster').replaceAll('cluster: true', '--cluster')
}

/** Where `run` prints: help and version to `out`, the one-line reason of a failure to `err`. */
export interface Output {
  out(text: string): void
  err(text: string): void
}

const STDIO: Output = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
}

/**
 * A reader that closed stdout (`redfleet dlq list x | head -1`) has what it wanted. Node ignores
 * SIGPIPE, so each write then fails with EPIPE, which unhandled killed the command with a stack
 * trace. Instead the command ends without a word: at once with exit 0, or, for one that runs
 * until Ctrl-C (demo, dashboard, status --watch), as on Ctrl-C, so that it cleans up after
 * itself (its keys, its private redis-server). Every later write fails the same way, and is
 * dropped.
 */
function endOnClosedStdout(): void {
  let closed = false
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error
    if (closed) return
    closed = true
    if (process.listenerCount('SIGINT') > 0) process.emit('SIGINT', 'SIGINT')
    else process.exit(0)
  })
}

/** Runs the command as the `redfleet` binary does, and makes sure the process then ends. */
export async function main(argv: string[]): Promise<number> {
  endOnClosedStdout()
  const code = await run(argv)
  // A command that finished must not be kept alive by a handle someone forgot: exit anyway.
  setTimeout(() => process.exit(code), EXIT_GRACE).unref()
  return code
}

/** Parses and runs one command line; resolves with its exit code (SPEC §9). */
export async function run(argv: string[], output: Output = STDIO): Promise<number> {
  const fail = (reason: string, usage: boolean) => {
    const line = reasonLine(inFlags(reason))
    output.err(`redfleet: ${line}${usage ? ' (redfleet --help shows the usage)' : ''}\n`)
    return usage ? 2 : 1
  }
  try {
    await program(output).parseAsync(argv, { from: 'user' })
    return 0
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end parsing with exit code 0 after printing.
      return error.exitCode === 0 ? 0 : fail(commanderReason(error), true)
    }
    if (error instanceof UsageError) return fail(error.message, true)
    return fail(error instanceof Error ? error.message : String(error), false)
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2))
}
