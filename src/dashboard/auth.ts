import { createHash, timingSafeEqual } from 'node:crypto'
import { isIPv4 } from 'node:net'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { html } from './html.ts'
import { NO_ICON } from './layout.ts'

/** The cookie a page opened with `?token=` keeps the token in, for its own later requests. */
export const TOKEN_COOKIE = 'redfleet_token'

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

function cookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim())
      } catch {
        return undefined
      }
    }
  }
  return undefined
}

/**
 * `Bearer <token>`: the scheme's name is case-insensitive and spaces may follow it (RFC 9110
 * §11.1, `1*SP`; some clients send `bearer`); the rest of the header is the token (it may hold
 * spaces).
 */
const BEARER = /^bearer +(.+)$/i

/**
 * The onRequest hook of a dashboard with a token: every request (pages, JSON, /metrics, static
 * files) carries it as `Authorization: Bearer <token>`, in the cookie, or as `?token=`; the
 * last one is then kept in an HttpOnly, SameSite=Strict cookie so the page's own requests carry
 * it. Anything else is 401. Compared in constant time (over digests, so lengths leak nothing).
 */
export function tokenGuard(token: string) {
  const expected = digest(token)
  const matches = (candidate: string | undefined) =>
    candidate !== undefined && timingSafeEqual(digest(candidate), expected)
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization
    const bearer = header === undefined ? undefined : BEARER.exec(header)?.[1]
    if (matches(bearer) || matches(cookie(request, TOKEN_COOKIE))) return
    const query = (request.query as Record<string, unknown> | undefined)?.token
    if (typeof query === 'string' && matches(query)) {
      reply.header(
        'set-cookie',
        `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`,
      )
      return
    }
    const message =
      'this dashboard needs its token: send Authorization: Bearer <token>, or open it with ?token=<token>'
    reply.code(401).header('www-authenticate', 'Bearer realm="redfleet"')
    if ((request.headers.accept ?? '').includes('text/html')) {
      await reply
        .type('text/html; charset=utf-8')
        .send(html`<!doctype html><title>redfleet: token needed</title>${NO_ICON}<p>${message}</p>`.text)
    } else {
      await reply.send({ error: { code: 'ERR_UNAUTHORIZED', message } })
    }
  }
}

/** Names a browser uses for this machine's loopback interface. */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]']

/** A Host header: a name (an IPv6 address in brackets) and an optional port, nothing else. */
const HOST_HEADER = /^(\[[^\]]*\]|[^:[\]]*)(?::\d{1,5})?$/

/** A `--host` as it is listened on: an IPv6 address without the brackets a url puts around it. */
export function listenAddress(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

/**
 * Whether the dashboard listens on loopback only (the default `--host 127.0.0.1`): `localhost`,
 * any 127.0.0.0/8 address (IPv4-mapped too) or `::1`, in any case, with or without brackets.
 */
export function isLoopback(host: string): boolean {
  const name = listenAddress(host).toLowerCase()
  if (name === 'localhost' || name === '::1') return true
  const v4 = name.startsWith('::ffff:') ? name.slice('::ffff:'.length) : name
  return isIPv4(v4) && v4.startsWith('127.')
}

/**
 * The onRequest hook of a dashboard that listens on loopback: a request must name this machine
 * in its Host header. A web page the operator has open elsewhere can point a name of its own at
 * 127.0.0.1 (DNS rebinding) and read a dashboard without a token as if it were its own origin;
 * its requests still carry that name, and are refused (403).
 */
export function loopbackHostGuard(listening: string) {
  // The loopback names, and the address it listens on as a url names it (`127.0.0.2`, `[::1]`).
  const address = listenAddress(listening).toLowerCase()
  const allowed = new Set([...LOOPBACK_NAMES, address.includes(':') ? `[${address}]` : address])
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const host = request.headers.host ?? ''
    // The whole header: a loopback name and at most a port (`localhost:evil.com` is not one).
    const name = HOST_HEADER.exec(host)?.[1]
    if (name !== undefined && allowed.has(name.toLowerCase())) return
    await reply.code(403).send({
      error: {
        code: 'ERR_HOST_NOT_ALLOWED',
        message: `this dashboard listens on loopback and answers requests for localhost only, not ${JSON.stringify(host)}`,
      },
    })
  }
}
