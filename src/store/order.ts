import { AsyncLocalStorage } from 'node:async_hooks'
import { writtenSignal } from '../written.ts'

/** What a call that writes its commands before it returns is given to tell it: nothing to do. */
function nothing(): void {}

/** What a call no later call can overtake is told when asked whether one did. */
function never(): boolean {
  return false
}

/** A call that let later calls on its keys go before it settled; `overtaken` once one was made. */
interface Overtakable {
  overtaken: boolean
}

/**
 * Per-key call order (SPEC §2): calls from one process on one key are applied in the order they
 * were made, awaited or not. Redis runs the commands of one connection in the order they were
 * written, so a call whose command is written before it returns needs nothing more. Only a call
 * that cannot write at once (a read-modify-write, a multi-key call that must first learn where
 * its keys live, any call before the topology is built) holds its keys: a later call on one of
 * them waits until the holder has settled, and, while it waits, holds them in turn.
 *
 * The cost on the hot path is one Map size check while nothing is held.
 */
export class KeyOrder {
  /** Per key, the promise that settles when the last call holding it lets later calls go. */
  readonly #held = new Map<string, Promise<unknown>>()
  /**
   * The keys held by the calls whose work a call is made from within (an `update`'s fn runs
   * while its update holds the key). Such a call is part of that work: on those keys it neither
   * waits (neither would ever settle) nor holds (later calls still wait for the update itself).
   */
  readonly #within = new AsyncLocalStorage<ReadonlySet<string>>()
  /** The calls waiting for an earlier one: each is let go at once when the fleet closes. */
  readonly #waiting = new Set<() => void>()
  /**
   * Per key, the calls that let later calls on it go before they settled (`hold`: once written).
   * A call made later on one of their keys overtakes them: sent again after a failure, such a
   * call would apply its older value after the later one's (SPEC §2), so it is not (overtaken).
   */
  readonly #unsettled = new Map<string, Set<Overtakable>>()

  /**
   * `closed` aborts when the fleet closes. A holder may be an update whose fn (the caller's code)
   * has not settled; a call waiting for it then goes at once, and is refused as closed, rather
   * than waiting for that fn (for ever, if it never settles).
   */
  constructor(readonly closed?: AbortSignal) {
    closed?.addEventListener('abort', () => {
      for (const letGo of [...this.#waiting]) letGo()
    })
  }

  /**
   * Runs `send` now, or after the earlier calls holding one of `keys`. `hold`: this call's
   * commands may not all be written when `send` returns, so later calls wait until it has
   * written them (it calls the `written` it is given) or settled, whichever comes first: Redis
   * runs one connection's commands in order, and a call that waited for the answers of one
   * frozen node's multi-key calls would wait for each one's timeouts in turn. `runsCallerCode`:
   * `send` runs the caller's code (an update's fn), whose own calls on `keys` are part of this
   * call (see #within); its write depends on that code, so it holds until it settles.
   * `send`'s `overtaken` says whether a call on one of `keys` that writes (not `reads`) was made
   * after this one while it was unsettled: its retry policy then sends it no more. A later read
   * does not: sent again after one, a call changes no value that a later call wrote.
   */
  run<T>(
    keys: string | readonly string[],
    send: (written: () => void, overtaken: () => boolean) => Promise<T>,
    hold: boolean,
    runsCallerCode = false,
    reads = false,
  ): Promise<T> {
    if (this.#held.size === 0 && this.#unsettled.size === 0 && !hold) return send(nothing, never)
    const within = this.#within.getStore()
    const list = typeof keys === 'string' ? [keys] : keys
    const own = within === undefined ? list : list.filter((key) => !within.has(key))
    if (!reads && this.#unsettled.size > 0) this.#overtake(own)
    const before = this.#before(own)
    if (before === undefined && !hold) return send(nothing, never)
    // Overtaken by any call made from now on, including those waiting for it (let go once written).
    const call = hold && !runsCallerCode && !reads ? this.#unsettledOn(own) : undefined
    let result!: Promise<T>
    // Later calls go as soon as this one has written its commands (see `hold`).
    const go = (): Promise<unknown> | undefined => {
      if (runsCallerCode) {
        result = this.#within.run(new Set([...(within ?? []), ...list]), () => send(nothing, never))
        return result
      }
      if (!hold) {
        result = send(nothing, never)
        return undefined
      }
      const { written, wrote, hasWritten } = writtenSignal()
      // Overtaken only once written: until then a later call waits for this one to settle.
      result = send(written, call === undefined ? never : () => hasWritten() && call.overtaken)
      if (call !== undefined) {
        const forget = () => this.#settled(own, call)
        result.then(forget, forget)
      }
      return Promise.race([result, wrote])
    }
    const gate = before === undefined ? Promise.resolve(go()) : this.#until(before).then(go)
    const release = () => {
      for (const key of own) {
        if (this.#held.get(key) === gate) this.#held.delete(key)
      }
    }
    gate.then(release, release)
    for (const key of own) this.#held.set(key, gate)
    return before === undefined
      ? result
      : gate.then(
          () => result,
          () => result,
        )
  }

  /** A new call on `keys` that may let later calls go before it settles: any made from now overtakes it. */
  #unsettledOn(keys: readonly string[]): Overtakable {
    const call: Overtakable = { overtaken: false }
    for (const key of keys) {
      let calls = this.#unsettled.get(key)
      if (calls === undefined) {
        calls = new Set()
        this.#unsettled.set(key, calls)
      }
      calls.add(call)
    }
    return call
  }

  #settled(keys: readonly string[], call: Overtakable): void {
    for (const key of keys) {
      const calls = this.#unsettled.get(key)
      if (calls?.delete(call) && calls.size === 0) this.#unsettled.delete(key)
    }
  }

  /** A call on `keys` is made now: the unsettled calls on them are overtaken. */
  #overtake(keys: readonly string[]): void {
    for (const key of keys) {
      const calls = this.#unsettled.get(key)
      if (calls === undefined) continue
      for (const call of calls) call.overtaken = true
      this.#unsettled.delete(key)
    }
  }

  /** Settles when `before` settles, or when the fleet closes if that comes first. */
  #until(before: Promise<unknown>): Promise<void> {
    if (this.closed?.aborted) return Promise.resolve()
    return new Promise((resolve) => {
      const letGo = () => {
        this.#waiting.delete(letGo)
        resolve()
      }
      this.#waiting.add(letGo)
      before.then(letGo, letGo)
    })
  }

  /** What a new call on `keys` must wait for, if anything. */
  #before(keys: readonly string[]): Promise<unknown> | undefined {
    if (keys.length === 1) return this.#held.get(keys[0]!)
    let waits: Promise<unknown>[] | undefined
    for (const key of keys) {
      const held = this.#held.get(key)
      if (held === undefined || waits?.includes(held)) continue
      waits ??= []
      waits.push(held)
    }
    if (waits === undefined) return undefined
    return waits.length === 1 ? waits[0] : Promise.allSettled(waits)
  }
}
