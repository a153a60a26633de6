/** Rejects with `expired()` when `work` has not settled after `ms`; `work` itself runs on. */
export function withDeadline<T>(work: Promise<T>, ms: number, expired: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(expired()), ms)
  })
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer))
}
