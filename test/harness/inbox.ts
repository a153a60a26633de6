/** Collects messages; `until(n)` resolves once n arrived (or fails the test after `ms`). */
export function inbox<T = string>() {
  const items: T[] = []
  const waiting = new Set<() => void>()
  return {
    items,
    push: (item: T) => {
      items.push(item)
      for (const check of [...waiting]) check()
    },
    until(n: number, ms = 5000): Promise<T[]> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (items.length < n) return
          waiting.delete(check)
          clearTimeout(timer)
          resolve(items)
        }
        const timer = setTimeout(() => {
          waiting.delete(check)
          reject(new Error(`expected ${n} messages within ${ms} ms, got ${items.length}: ${items.slice(-5)}`))
        }, ms)
        waiting.add(check)
        check()
      })
    },
  }
}
