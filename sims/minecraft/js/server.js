// Ember's local Minecraft server: flying-squid (survival, offline mode) with crafting (./crafting.js) and a control
// channel for scenario setup on 127.0.0.1 (JSON over HTTP: POST / {"op": ..., ...} -> {"ok": true, "result": ...}).
//
//   node server.js '{"port": 0, "version": "1.20.4", "generation": "superflat", "seed": 0}'
//
// Prints one line `EMBER_READY {"port": P, "control": C}` on stdout once both listen; everything else is log.
// Started and stopped by ember.sims.minecraft.server.MinecraftServer (never by hand in tests).

'use strict'

const http = require('http')
const { Vec3 } = require('vec3')
const mcServer = require('flying-squid')

const options = JSON.parse(process.argv[2] || '{}')
const settings = {
  host: '127.0.0.1',
  port: options.port ?? 0,
  motd: 'Ember local server',
  'max-players': options.maxPlayers ?? 16,
  'online-mode': false,
  logging: false,
  gameMode: 0, // survival: blocks drop items
  difficulty: 0, // peaceful
  worldFolder: undefined,
  generation: { name: options.generation ?? 'superflat', options: { seed: options.seed ?? 0, worldHeight: 80 } },
  kickTimeout: 30000,
  plugins: {},
  modpe: false,
  'view-distance': options.viewDistance ?? 4,
  'player-list-text': { header: { text: 'Ember' }, footer: { text: '' } },
  'everybody-op': true,
  'max-entities': 200,
  version: options.version ?? '1.20.4'
}

const serv = mcServer.createMCServer(settings)
require('./crafting')(serv)
const registry = serv.registry
const Item = require('prismarine-item')(registry)

function fail (message) {
  const err = new Error(message)
  err.userError = true
  throw err
}

function player (name) {
  const found = serv.players.find((p) => p.username === name)
  if (!found) fail(`no player named ${JSON.stringify(name)} is online (online: ${JSON.stringify(serv.players.map((p) => p.username))})`)
  return found
}

function blockState (name) {
  const block = registry.blocksByName[name]
  if (!block) fail(`unknown block ${JSON.stringify(name)}`)
  return block.defaultState
}

function vec (args) {
  for (const key of ['x', 'y', 'z']) {
    if (typeof args[key] !== 'number' || !Number.isFinite(args[key])) fail(`${key} must be a number; got ${JSON.stringify(args[key])}`)
  }
  return new Vec3(Math.floor(args.x), Math.floor(args.y), Math.floor(args.z))
}

const ops = {
  async ping () { return { version: settings.version, players: serv.players.map((p) => p.username) } },

  async set_block (args) {
    await serv.setBlock(serv.overworld, vec(args), blockState(args.block))
    return null
  },

  async fill (args) {
    // Every block of the box from (x, y, z) to (x2, y2, z2), inclusive.
    const a = vec(args); const b = vec({ x: args.x2, y: args.y2, z: args.z2 })
    const state = blockState(args.block)
    let n = 0
    for (let x = Math.min(a.x, b.x); x <= Math.max(a.x, b.x); x++) {
      for (let y = Math.min(a.y, b.y); y <= Math.max(a.y, b.y); y++) {
        for (let z = Math.min(a.z, b.z); z <= Math.max(a.z, b.z); z++) {
          if (++n > 20000) fail('fill: more than 20000 blocks; split the box')
          await serv.setBlock(serv.overworld, new Vec3(x, y, z), state)
        }
      }
    }
    return n
  },

  async get_block (args) {
    const block = await serv.overworld.getBlock(vec(args))
    return block ? block.name : null
  },

  async tree (args) {
    // An oak: a trunk of `height` logs on (x, y, z) and a leaf crown (flying-squid's generators plant no trees).
    const base = vec(args)
    const height = args.height ?? 4
    const log = blockState(args.log ?? 'oak_log'); const leaves = blockState(args.leaves ?? 'oak_leaves')
    for (let dy = height - 2; dy <= height + 1; dy++) {
      const r = dy >= height ? 1 : 2
      for (let dx = -r; dx <= r; dx++) {
        for (let dz = -r; dz <= r; dz++) {
          if (Math.abs(dx) === r && Math.abs(dz) === r && r === 2) continue
          await serv.setBlock(serv.overworld, base.offset(dx, dy, dz), leaves)
        }
      }
    }
    for (let dy = 0; dy < height; dy++) await serv.setBlock(serv.overworld, base.offset(0, dy, 0), log)
    return null
  },

  async give (args) {
    const target = player(args.player)
    const item = registry.itemsByName[args.item]
    if (!item) fail(`unknown item ${JSON.stringify(args.item)}`)
    let left = Number(args.count ?? 1)
    if (!Number.isInteger(left) || left < 1) fail(`count must be a positive integer; got ${JSON.stringify(args.count)}`)
    const inv = target.inventory
    while (left > 0) {
      const stack = inv.findInventoryItem(item.id, null, true)
      if (stack && stack.count < item.stackSize) {
        const add = Math.min(left, item.stackSize - stack.count)
        inv.updateSlot(stack.slot, new Item(item.id, stack.count + add))
        left -= add
        continue
      }
      const slot = inv.firstEmptyInventorySlot()
      if (slot == null) fail(`${args.player}'s inventory is full`)
      const add = Math.min(left, item.stackSize)
      inv.updateSlot(slot, new Item(item.id, add))
      left -= add
    }
    return null
  },

  async clear (args) {
    const inv = player(args.player).inventory
    for (let i = 0; i < inv.slots.length; i++) if (inv.slots[i]) inv.updateSlot(i, null)
    return null
  },

  async inventory (args) {
    const out = {}
    for (const item of player(args.player).inventory.items()) out[item.name] = (out[item.name] ?? 0) + item.count
    return out
  },

  async teleport (args) {
    const target = player(args.player)
    await target.teleport(vec(args).offset(0.5, 0, 0.5))
    await target.worldSendRestOfChunks() // flying-squid streams chunks on walking, not on a teleport
    return null
  },

  async kick (args) {
    player(args.player).kick(args.reason ?? 'kicked by Ember')
    return null
  },

  async say (args) {
    serv.broadcast(String(args.message ?? ''))
    return null
  },

  async craft_match (args) {
    // The result of a grid of item names (null for empty), row-major, size 2 or 3: tests the recipe matcher.
    const ids = args.grid.map((name) => (name === null ? null : registry.itemsByName[name]?.id ?? fail(`unknown item ${name}`)))
    const result = serv.craftingMatch(ids, args.size)
    return result ? { item: registry.items[result.id].name, count: result.count } : null
  }
}

function handle (req, res) {
  let body = ''
  req.on('data', (chunk) => { body += chunk; if (body.length > 1e6) req.destroy() })
  req.on('end', async () => {
    let reply
    try {
      const args = JSON.parse(body || '{}')
      const op = ops[args.op]
      if (!op) fail(`unknown op ${JSON.stringify(args.op)}; ops: ${Object.keys(ops).join(', ')}`)
      reply = { ok: true, result: await op(args) }
    } catch (err) {
      reply = { ok: false, error: err.userError ? err.message : `${err.name}: ${err.message}` }
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify(reply))
  })
}

const control = http.createServer(handle)
let mcPort = null
let controlPort = null
function announce () {
  if (mcPort !== null && controlPort !== null) console.log('EMBER_READY ' + JSON.stringify({ port: mcPort, control: controlPort }))
}
serv.on('listening', (port) => { mcPort = port; serv.waitForReady(10000).then(announce, announce) })
control.listen(options.controlPort ?? 0, '127.0.0.1', () => { controlPort = control.address().port; if (serv.isReady) announce() })
serv.on('error', (err) => console.error('server error: ' + (err && err.stack ? err.stack : err)))

function shutdown () {
  control.close()
  Promise.resolve(serv.quit ? serv.quit('Server stopped') : null).finally(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
