import { safely } from '../broker/listener.ts'
import {
  type FleetContext,
  type OperationPolicy,
  operationPolicy,
  reportFailure,
  reportUnheard,
  runCommand,
  runFinishing,
  traceScope,
} from '../context.ts'
import type { DETACHED } from '../lifecycle.ts'
import { PrimitiveTracer, type Subject } from '../telemetry.ts'
import type { TrackerOptions } from './options.ts'

/** `run`'s option for a step let through while the fleet drains (see TrackerRunner.run). */
export const FINISHING = { finishing: true } as const

/** The operations of the background loops: they report their failures themselves, once per outage. */
const LOOP_OPS = new Set(['heartbeat', 'recoverEvery'])

/**
 * How the tracker's parts run their commands (src/context.ts `runCommand`, named `tracker.<op>`),
 * trace its public calls and loop passes (`redfleet:tracker:<op>`, SPEC §11: one trace per call,
 * however many commands it sends) and report failures nobody awaits: one place, so every part
 * reports alike.
 */
export class TrackerRunner {
  readonly #ctx: FleetContext
  readonly #policy: OperationPolicy
  /** The loops' policy: no report per failed attempt; their LoopBackoff reports once per outage. */
  readonly #quiet: OperationPolicy
  readonly #tracer: PrimitiveTracer

  constructor(ctx: FleetContext, options: TrackerOptions) {
    this.#ctx = ctx
    this.#policy = operationPolicy(ctx, options)
    this.#quiet = { retry: this.#policy.retry, onError: () => {} }
    this.#tracer = new PrimitiveTracer('tracker', traceScope(ctx))
  }

  /** Traces one public call (or loop pass) of the tracker on `redfleet:tracker:<op>`. */
  traced<T>(op: string, subject: () => Subject, fn: () => Promise<T>): Promise<T> {
    return this.#tracer.run(op, subject, fn)
  }

  /** The fleet was closed (or is closing): no orphan is handed out any more. */
  get closed(): boolean {
    return this.#ctx.lifecycle.closed
  }

  /**
   * The fleet's connections are closing or closed: nothing goes out any more, and the records of
   * jobs that settle now stay, as orphans. (While close drains, a job that settles is untracked.)
   */
  get drained(): boolean {
    return this.#ctx.lifecycle.closed && !this.#ctx.lifecycle.draining
  }

  /** Runs user code close waits for (a requeue): see Lifecycle.awaitUserCode. */
  awaitUserCode<T>(code: () => T): T | Promise<Awaited<T> | typeof DETACHED> {
    return this.#ctx.lifecycle.awaitUserCode(code)
  }

  /** What is left of close's grace for the user code it waits for (see Lifecycle.graceLeft). */
  graceLeft(): number {
    return this.#ctx.lifecycle.graceLeft()
  }

  /** Runs user code close waits for (a tracked job), told when close stops waiting: see Lifecycle.runUserCode. */
  runUserCode<T>(code: () => T, detached: () => void): T {
    return this.#ctx.lifecycle.runUserCode(code, detached)
  }

  assertOpen(op: string): void {
    this.#ctx.lifecycle.assertOpen(`tracker.${op}`)
  }

  /**
   * Runs one command of the tracker. `finishing`: the step that settles an orphan already handed
   * to requeue (its completion or release) still runs while the fleet is closing, since close
   * waits for the pass; refusing it would leave the claim to expire and the orphan handed out again.
   */
  run<T>(op: string, key: string | undefined, fn: () => Promise<T>, o?: { finishing: true }): Promise<T> {
    const runner = o?.finishing ? runFinishing : runCommand
    return runner(this.#ctx, this.#policyOf(op), `tracker.${op}`, key, fn)
  }

  /**
   * `run` of a finishing step sent again in the background (a recovered orphan's completion,
   * src/tracker/recovery.ts): through the runner, so that a timeout has the layout re-read (a
   * failover is followed), without reporting each failure to an onError given.
   */
  runAgain<T>(op: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    return runFinishing(this.#ctx, this.#quiet, `tracker.${op}`, key, fn)
  }

  #policyOf(op: string): OperationPolicy {
    return LOOP_OPS.has(op) ? this.#quiet : this.#policy
  }

  /** Reports the failure of a `run` nobody awaits (see reportUnheard). */
  reportUnheard(error: unknown, op: string): void {
    // A loop's commands run under #quiet, which reports none of them: nothing has told this one.
    const report = LOOP_OPS.has(op) ? reportFailure : reportUnheard
    report(this.#policy, error, `tracker.${op}`)
  }

  /** Reports a failure nobody awaits; a throwing handler is ignored (it must not break a loop). */
  report(error: unknown, op: string): void {
    // The error sink failing is not a reason to stop tracking or recovering.
    safely((e) => this.#policy.onError(e, `tracker.${op}`), error)
  }
}
