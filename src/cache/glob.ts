/**
 * Redis glob patterns (what SCAN MATCH takes): `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, and `\` to
 * escape. The memory backend matches with the same rules, and every prefix the cache puts in
 * front of a user's glob is escaped so that it matches only itself.
 */
const SPECIAL = /[*?[\]\\]/g

/** A literal string as a glob that matches only that string. */
export function escapeGlob(text: string): string {
  return text.replace(SPECIAL, (c) => `\\${c}`)
}

/** The RegExp equivalent of a Redis glob (whole-string match). */
export function globToRegExp(glob: string): RegExp {
  let source = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '\\' && i + 1 < glob.length) {
      source += escapeRegExp(glob[++i]!)
    } else if (c === '*') {
      source += '[\\s\\S]*'
    } else if (c === '?') {
      source += '[\\s\\S]'
    } else if (c === '[') {
      const close = findClose(glob, i + 1)
      if (close === -1) {
        source += '\\['
        continue
      }
      let body = glob.slice(i + 1, close)
      const negate = body.startsWith('^')
      if (negate) body = body.slice(1)
      let cls = ''
      for (let j = 0; j < body.length; j++) {
        const b = body[j]!
        if (b === '\\' && j + 1 < body.length) cls += escapeClass(body[++j]!)
        else if (b === '-' && j > 0 && j + 1 < body.length) cls += '-'
        else cls += escapeClass(b)
      }
      source += `[${negate ? '^' : ''}${cls}]`
      i = close
    } else {
      source += escapeRegExp(c)
    }
  }
  return new RegExp(`^${source}$`)
}

function findClose(glob: string, from: number): number {
  for (let i = from; i < glob.length; i++) {
    if (glob[i] === '\\') i++
    else if (glob[i] === ']') return i
  }
  return -1
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')
}

function escapeClass(c: string): string {
  return c.replace(/[\]\\^-]/g, '\\$&')
}
