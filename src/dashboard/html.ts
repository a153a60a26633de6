/**
 * HTML built with a tagged template that escapes every interpolated value unless it is itself
 * Html: payloads, ids and error messages are user data, so escaping is the default and only
 * markup made here is ever trusted.
 */
export class Html {
  constructor(readonly text: string) {}
}

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ENTITIES[c]!)
}

function part(value: unknown): string {
  if (value instanceof Html) return value.text
  if (Array.isArray(value)) return value.map(part).join('')
  if (value === null || value === undefined || value === false) return ''
  return escapeHtml(String(value))
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0]!
  values.forEach((value, i) => {
    out += part(value) + strings[i + 1]!
  })
  return new Html(out)
}

/** A query string for a link: `href(path, { a: 'x y' })` → `path?a=x%20y` (undefined skipped). */
export function href(path: string, query: Record<string, string | undefined> = {}): string {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v)
  const search = params.toString()
  return search ? `${path}?${search}` : path
}
