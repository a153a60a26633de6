/**
 * The `redfleet` command (SPEC §9):
 *   redfleet <demo|status|dashboard|dlq|orphans|bench> [--url URL[,URL...]] [--cluster] [--namespace NS]
 * Exit code 0 on success, 2 on usage errors, 1 on failures, with a one-line reason on stderr.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Argument, Command, CommanderError } from 'commander'
import { bench, benchAvailable } from './bench.ts'
import { fleetOptions, UsageError } from './common.ts'
import { runDemo } from './demo.ts'
import { DLQ_ACTIONS, type DlqAction, dlq, orphans } from './dlq.ts'
import { dashboard } from './serve.ts'
import { status } from './status.ts'

/** How long a finished command may take to let go of its last handle before it is made to exit. */
const EXIT_GRACE = 3000

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
  return String(pkg.version)
}

function program(): Command {
  const cli = new Command('redfleet')
    .description('Look after a redfleet fleet: demo, status, dashboard, dead letters and orphans.')
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show this help (redfleet <command> --help for one command)')
    .helpCommand(false)
    .option('--url <url[,url...]>', 'Redis url(s) of the fleet (default: $REDIS_URL)')
    .option('--cluster', 'the urls are Redis Cluster seed nodes')
    .option('--namespace <ns>', 'the fleet namespace (default: redfleet)')
    .configureHelp({ showGlobalOptions: true })
    // Errors become exceptions with one line of ours, never commander's multi-line output.
    .exitOverride()
    .configureOutput({ writeErr: () => {}, outputError: () => {} })

  cli
    .command('demo')
    .description('several worker processes sharing one fleet, each primitive at work, one killed mid-job')
    .action((_, cmd: Command) => runDemo(fleetOptions(cmd.optsWithGlobals())))

  cli
    .command('status')
    .description('a snapshot of a fleet: members, tracker instances, jobs, orphans, streams, keys')
    .option('--json', 'print JSON (one document per line with --watch)')
    .option('--watch [seconds]', 'print a new snapshot every few seconds (default 2) until Ctrl-C')
    .action((_, cmd: Command) => status(cmd.optsWithGlobals()))

  cli
    .command('dashboard')
    .description('the fleet, live, as a web page')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port)', '7878')
    .option('--token <token>', 'every request must carry it (default: $REDFLEET_DASHBOARD_TOKEN)')
    .option('--allow-actions', 'allow actions that change data (replay/purge dead letters, release orphans)')
    .action((_, cmd: Command) => dashboard(cmd.optsWithGlobals()))

  cli
    .command('dlq')
    .description('dead letters of a channel: list them, replay them to where they came from, or purge them')
    .addArgument(new Argument('<action>', DLQ_ACTIONS.join(', ')).choices(DLQ_ACTIONS))
    .argument('<deadLetterChannel>', 'the dead-letter channel, e.g. billing:dead')
    .option('--json', 'print JSON')
    .option('--ids <id,id...>', 'only these dead-letter entry ids (replay, purge)')
    .option('--limit <n>', 'at most n dead letters (list; default 100)')
    .action((action: DlqAction, channel: string, _, cmd: Command) =>
      dlq(action, channel, cmd.optsWithGlobals()),
    )

  cli
    .command('orphans')
    .description('jobs of tracker instances that are no longer live')
    .option('--json', 'print JSON')
    .action((_, cmd: Command) => orphans(cmd.optsWithGlobals()))

  // The suite ships with the source repository: an installed package does not advertise it.
  cli
    .command('bench', { hidden: !benchAvailable() })
    .description('the benchmark suite (source checkout only)')
    .argument('[args...]', 'passed to bench/run.ts (e.g. a scenario filter)')
    .allowUnknownOption()
    .action((args: string[]) => bench(args))

  // Reached only when no command matched: name what was wrong in one line.
  cli.allowExcessArguments().action((_, cmd: Command) => {
    throw new UsageError(cmd.args.length === 0 ? 'a command is needed' : `unknown command '${cmd.args[0]}'`)
  })
  return cli
}

/** The one line a commander error deserves, without its "error: " prefix. */
function commanderReason(error: CommanderError): string {
  return error.message.replace(/^error: /, '').split('\n')[0]!
}

export async function main(argv: string[]): Promise<number> {
  const code = await run(argv)
  // A command that finished must not be kept alive by a handle someone forgot: exit anyway.
  setTimeout(() => process.exit(code), EXIT_GRACE).unref()
  return code
}

async function run(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' })
    return 0
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end parsing with exit code 0 after printing.
      if (error.exitCode === 0) return 0
      console.error(`redfleet: ${commanderReason(error)} (redfleet --help shows the usage)`)
      return 2
    }
    if (error instanceof UsageError) {
      console.error(`redfleet: ${error.message} (redfleet --help shows the usage)`)
      return 2
    }
    const message = error instanceof Error ? error.message : String(error)
    console.error(`redfleet: ${message.split('\n')[0]}`)
    return 1
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(process.argv.slice(2))
}
