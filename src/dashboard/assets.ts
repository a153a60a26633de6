import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import type { FastifyInstance } from 'fastify'
import { CLIENT_SCRIPT } from './client.ts'
import { STYLE } from './style.ts'

interface Asset {
  type: string
  body: string
}

/**
 * The static files, all served by the dashboard itself (nothing comes from the internet):
 * uPlot's own dist files from the installed package, and the page's script and stylesheet.
 */
export async function registerAssets(app: FastifyInstance): Promise<void> {
  const require = createRequire(import.meta.url)
  const uplot = (file: string) => readFile(require.resolve(`uplot/dist/${file}`), 'utf8')
  const assets = new Map<string, Asset>([
    ['uPlot.iife.min.js', { type: 'text/javascript; charset=utf-8', body: await uplot('uPlot.iife.min.js') }],
    ['uPlot.min.css', { type: 'text/css; charset=utf-8', body: await uplot('uPlot.min.css') }],
    ['dashboard.js', { type: 'text/javascript; charset=utf-8', body: CLIENT_SCRIPT }],
    ['dashboard.css', { type: 'text/css; charset=utf-8', body: STYLE }],
  ])
  app.get<{ Params: { file: string } }>('/static/:file', async (request, reply) => {
    const asset = assets.get(request.params.file)
    if (!asset) return reply.code(404).send({ error: { code: 'ERR_NOT_FOUND', message: 'no such file' } })
    return reply.type(asset.type).header('cache-control', 'private, max-age=300').send(asset.body)
  })
}
