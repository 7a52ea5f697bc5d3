// One Ember bot: a mineflayer client with pathfinding, a chat log, a connection state and one task at a time.
//
// Python (ember.sims.minecraft.world) drives it through the javascript bridge: `createAgent(options)` connects,
// `startTask(agent, name, argsJson)` begins a task and returns at once, `snapshot(agent, namesJson)` returns the
// agent's state as one JSON string (one bridge round trip per tick), `cancelTask(agent)` stops the task. Tasks never
// block the bridge; their outcome lands in `agent.task` ({ name, done, ok, error }).

'use strict'

const mineflayer = require('mineflayer')
const { pathfinder, Movements, goals } = require('mineflayer-pathfinder')
const { Vec3 } = require('vec3')

const CHAT_KEEP = 200

function createAgent (optionsJson) {
  const options = typeof optionsJson === 'string' ? JSON.parse(optionsJson) : optionsJson
  const bot = mineflayer.createBot({
    host: options.host,
    port: options.port,
    username: options.username,
    version: options.version,
    auth: options.auth || 'offline',
    hideErrors: true,
    checkTimeoutInterval: 60 * 1000
  })
  bot.loadPlugin(pathfinder)
  const agent = {
    bot,
    username: options.username,
    status: 'connecting',
    reason: '',
    chat: [],
    chatSeq: 0,
    errors: [],
    task: null,
    seed: options.seed || 0,
    autoCollect: options.autoCollect !== false
  }
  bot.once('spawn', () => {
    const movements = new Movements(bot)
    movements.canDig = false // paths never dig through the scenario (skills dig on purpose)
    movements.allow1by1towers = false
    movements.allowParkour = false
    movements.scafoldingBlocks = [] // never spend the inventory on bridges and towers
    bot.pathfinder.setMovements(movements)
    bot.pathfinder.thinkTimeout = 3000
    agent.status = 'spawned'
  })
  bot.on('chat', (username, message) => {
    if (username === bot.username) return
    agent.chatSeq += 1
    agent.chat.push({ seq: agent.chatSeq, from: String(username).slice(0, 32), text: String(message).slice(0, 512) })
    if (agent.chat.length > CHAT_KEEP) agent.chat.shift()
  })
  bot.on('kicked', (reason) => {
    agent.status = 'kicked'
    agent.reason = typeof reason === 'string' ? reason : JSON.stringify(reason).slice(0, 300)
  })
  bot.on('end', (reason) => {
    if (agent.status !== 'kicked') agent.status = 'ended'
    agent.reason = agent.reason || String(reason || 'connection closed')
    if (agent.task && !agent.task.done) finish(agent.task, false, 'disconnected: ' + agent.reason)
  })
  bot.on('error', (err) => {
    agent.errors.push(String(err && err.message ? err.message : err).slice(0, 300))
    if (agent.errors.length > 50) agent.errors.shift()
  })
  // A teleport (a scenario laid out, /tp): what the bot was walking to lies elsewhere now, so its task is cancelled
  // and the pathfinder stopped (it would walk back toward the old place, chunks away). Small corrections pass.
  let lastPos = null
  bot.on('physicsTick', () => { if (bot.entity) lastPos = bot.entity.position.clone() })
  bot.on('forcedMove', () => {
    if (!lastPos || !bot.entity || lastPos.distanceTo(bot.entity.position) < 8) return
    cancelTask(agent)
    try { bot.pathfinder.setGoal(null) } catch (err) {}
  })
  setInterval(() => collectIdle(agent), 500).unref()
  return agent
}

function finish (task, ok, error) {
  if (task.done) return
  task.done = true
  task.doneAt = Date.now()
  task.ok = ok
  task.error = ok ? '' : String(error || 'failed')
}

// ------------------------------------------------------------------ snapshot
function snapshot (agent, namesJson) {
  const bot = agent.bot
  const out = { status: agent.status, reason: agent.reason, chatSeq: agent.chatSeq, errors: agent.errors.slice(-5) }
  if (agent.status !== 'spawned' || !bot.entity) return JSON.stringify(out)
  const names = JSON.parse(namesJson || '[]')
  const p = bot.entity.position
  out.position = [round(p.x), round(p.y), round(p.z)]
  out.health = bot.health
  out.food = bot.food
  const inventory = {}
  for (const item of bot.inventory.items()) inventory[item.name] = (inventory[item.name] || 0) + item.count
  out.inventory = inventory
  out.held = bot.heldItem ? bot.heldItem.name : null
  out.players = {}
  for (const [name, player] of Object.entries(bot.players)) {
    if (name === bot.username || !player.entity) continue
    const q = player.entity.position
    out.players[name] = [round(q.x), round(q.y), round(q.z)]
  }
  // Nearest watched blocks: a scan costs milliseconds of the bot's event loop, so it is refreshed once a second, and
  // at once after a task ends (the snapshot that reports a task done shows the blocks it placed or dug).
  const now = Date.now()
  const stale = agent.task && agent.task.done && agent.scan && agent.task.doneAt >= agent.scan.at
  if (!agent.scan || stale || now - agent.scan.at > 1000 || agent.scan.key !== namesJson) {
    agent.scan = { at: now, key: namesJson, blocks: scanNear(bot, names, 32, -8, 12) }
  }
  out.blocks = agent.scan.blocks
  out.drops = Object.values(bot.entities).filter((e) => e.name === 'item' && e.position.distanceTo(p) < 8).length
  if (agent.task) out.task = { id: agent.task.id, name: agent.task.name, done: agent.task.done, ok: agent.task.ok, error: agent.task.error }
  return JSON.stringify(out)
}

function scanNear (bot, names, radius, below, above) {
  // One pass over the box around the bot: the nearest block of each watched name (mineflayer's findBlock scans the
  // whole radius once per name, ~250 ms for a name that is absent).
  const wanted = new Map()
  for (const name of names) {
    const block = bot.registry.blocksByName[name]
    if (!block) continue
    for (let id = block.minStateId; id <= block.maxStateId; id++) wanted.set(id, name)
  }
  const p = bot.entity.position.floored()
  const best = {}
  const bestD = {}
  const cursor = new Vec3(0, 0, 0)
  for (let dx = -radius; dx <= radius; dx++) {
    for (let dz = -radius; dz <= radius; dz++) {
      const flat = dx * dx + dz * dz
      if (flat > radius * radius) continue
      for (let dy = below; dy <= above; dy++) {
        cursor.set(p.x + dx, p.y + dy, p.z + dz)
        const name = wanted.get(bot.world.getBlockStateId(cursor))
        if (name === undefined) continue
        const d = flat + dy * dy
        if (bestD[name] !== undefined && d >= bestD[name]) continue
        if (!exposed(bot, cursor)) continue // buried blocks cannot be reached without digging to them
        bestD[name] = d
        best[name] = [cursor.x, cursor.y, cursor.z]
      }
    }
  }
  return best
}

const SIDES = [[0, 1, 0], [0, -1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, 0, -1]]

function exposed (bot, pos) {
  for (const [dx, dy, dz] of SIDES) {
    const block = bot.blockAt(pos.offset(dx, dy, dz))
    if (block && block.boundingBox === 'empty') return true
  }
  return false
}

function chatSince (agent, seq) {
  return JSON.stringify(agent.chat.filter((m) => m.seq > seq))
}

function round (x) { return Math.round(x * 100) / 100 }

// ------------------------------------------------------------------ tasks
const TASKS = { goto, mine, craft, place, toss, collect, explore, chat, awaitBlock }

function startTask (agent, name, argsJson, id) {
  if (agent.task && !agent.task.done) cancelTask(agent)
  const task = { id: id || '', name, done: false, ok: null, error: '', cancelled: false }
  agent.task = task
  const fn = TASKS[name]
  if (!fn) {
    finish(task, false, `unknown task ${JSON.stringify(name)}; tasks: ${Object.keys(TASKS).join(', ')}`)
    return task
  }
  if (agent.status !== 'spawned') {
    finish(task, false, `disconnected: the bot is ${agent.status}`)
    return task
  }
  let args
  try {
    args = JSON.parse(argsJson || '{}')
  } catch (err) {
    finish(task, false, 'arguments are not JSON: ' + err.message)
    return task
  }
  Promise.resolve()
    .then(() => fn(agent, task, args))
    .then(() => finish(task, true), (err) => finish(task, false, err && err.message ? err.message : String(err)))
  return task
}

function cancelTask (agent) {
  const task = agent.task
  if (!task || task.done) return
  task.cancelled = true
  try { agent.bot.pathfinder.stop() } catch (err) {}
  try { agent.bot.pathfinder.setGoal(null) } catch (err) {}
  try { agent.bot.stopDigging() } catch (err) {}
  finish(task, false, 'cancelled')
}

function check (task) {
  if (task.cancelled) throw new Error('cancelled')
}

function pathError (err, what) {
  const text = err && err.message ? err.message : String(err)
  if (/no path|noPath|Took to long|timeout/i.test(text)) return new Error(`path blocked: no way to ${what}`)
  return new Error(`${what}: ${text}`)
}

async function walk (agent, task, goal, what) {
  check(task)
  try {
    await agent.bot.pathfinder.goto(goal)
  } catch (err) {
    check(task)
    throw pathError(err, what)
  }
  check(task)
}

async function goto (agent, task, { x, y, z, range }) {
  await walk(agent, task, new goals.GoalNear(x, y, z, range ?? 1), `reach (${x}, ${y}, ${z})`)
}

function itemCount (bot, names) {
  let n = 0
  for (const item of bot.inventory.items()) if (names.includes(item.name)) n += item.count
  return n
}

function dropNames (bot, blockName) {
  const block = bot.registry.blocksByName[blockName]
  const ids = (block && block.drops) || []
  const names = ids.map((d) => bot.registry.items[typeof d === 'object' ? d.drop?.id ?? d.id : d]?.name).filter(Boolean)
  return names.length ? names : [blockName]
}

async function pickUpNear (agent, task, where, radius) {
  // Walk onto every dropped item near `where` (flying-squid picks up only within ~1.75 blocks).
  const bot = agent.bot
  for (let round = 0; round < 6; round++) {
    check(task)
    const items = Object.values(bot.entities).filter((e) => e.name === 'item' && e.position.distanceTo(where) <= radius)
    if (!items.length) return
    const target = items.sort((a, b) => a.position.distanceTo(bot.entity.position) - b.position.distanceTo(bot.entity.position))[0]
    try {
      await bot.pathfinder.goto(new goals.GoalNear(target.position.x, target.position.y, target.position.z, 1))
    } catch (err) {
      check(task)
    }
    await bot.waitForTicks(6)
  }
}

// What each bot of this bridge is digging (username -> block position): a teammate keeps off that column.
const CLAIMS = new Map()

function claimedByOthers (username, pos) {
  for (const [name, at] of CLAIMS) {
    if (name !== username && Math.abs(at.x - pos.x) <= 1 && Math.abs(at.z - pos.z) <= 1) return true
  }
  return false
}

async function mine (agent, task, args) {
  try {
    await mineLoop(agent, task, args)
  } finally {
    CLAIMS.delete(agent.bot.username)
  }
}

async function mineLoop (agent, task, { block, count, maxDistance }) {
  const bot = agent.bot
  const info = bot.registry.blocksByName[block]
  if (!info) throw new Error(`unknown block ${JSON.stringify(block)}`)
  const names = dropNames(bot, block)
  const want = itemCount(bot, names) + (count ?? 1)
  let failures = 0
  while (itemCount(bot, names) < want) {
    check(task)
    // The nearest exposed block of a column no teammate of this bridge is digging and no other player stands next
    // to (two bots never dig the same tree at once), else one no teammate is digging, else the nearest.
    const others = Object.values(bot.players).filter((p) => p.entity && p.username !== bot.username).map((p) => p.entity.position)
    const found = bot.findBlocks({ matching: info.id, maxDistance: maxDistance ?? 32, count: 24, useExtraInfo: (b) => exposed(bot, b.position) })
    const unclaimed = found.filter((pos) => !claimedByOthers(bot.username, pos))
    const free = unclaimed.filter((pos) => others.every((q) => q.distanceTo(pos.offset(0.5, 0, 0.5)) > 4))
    const pick = free[0] ?? unclaimed[0] ?? found[0]
    if (pick) CLAIMS.set(bot.username, pick)
    const target = pick ? bot.blockAt(pick) : null
    if (!target) throw new Error(`no ${block} in reach: none exposed within ${maxDistance ?? 32} blocks (explore first)`)
    try {
      await walk(agent, task, new goals.GoalLookAtBlock(target.position, bot.world, { reach: 4 }), `get to the ${block} at ${target.position}`)
    } catch (err) {
      if (task.cancelled || ++failures >= 3) throw err
      continue
    }
    await equipFor(bot, target)
    check(task)
    try {
      await bot.dig(target, true)
    } catch (err) {
      check(task)
      if (++failures >= 3) throw new Error(`could not dig the ${block} at ${target.position}: ${err.message}`)
      continue
    }
    await bot.waitForTicks(4)
    await pickUpNear(agent, task, target.position.offset(0.5, 0, 0.5), 4)
  }
}

async function equipFor (bot, block) {
  // The best tool in the inventory for the block (tools speed digging; flying-squid does not require them).
  let best = null
  let bestTime = Infinity
  for (const item of bot.inventory.items()) {
    const time = block.digTime(item.type, false, false, false, [], [])
    if (time < bestTime) { best = item; bestTime = time }
  }
  if (best && block.digTime(null, false, false, false, [], []) > bestTime) {
    try { await bot.equip(best, 'hand') } catch (err) {}
  }
}

function missing (bot, recipe, times) {
  const lacking = []
  for (const d of recipe.delta) {
    if (d.count >= 0) continue
    const have = bot.inventory.count(d.id, null)
    const need = -d.count * times
    if (have < need) lacking.push(`${need - have} ${bot.registry.items[d.id].name}`)
  }
  return lacking
}

async function craft (agent, task, { item, count }) {
  const bot = agent.bot
  const info = bot.registry.itemsByName[item]
  if (!info) throw new Error(`unknown item ${JSON.stringify(item)}`)
  const all = bot.recipesAll(info.id, null, true)
  if (!all.length) throw new Error(`${item} has no crafting recipe`)
  const per = all[0].result.count
  const times = Math.ceil((count ?? 1) / per)
  const ready = all.filter((r) => missing(bot, r, times).length === 0)
  if (!ready.length) {
    const best = all.map((r) => missing(bot, r, times)).sort((a, b) => a.length - b.length)[0]
    throw new Error(`missing ingredients for ${count ?? 1} ${item}: need ${best.join(', ')}`)
  }
  const recipe = ready[0]
  let table = null
  if (recipe.requiresTable) {
    const tableId = bot.registry.blocksByName.crafting_table.id
    table = bot.findBlock({ matching: tableId, maxDistance: 32 })
    if (!table) throw new Error(`${item} needs a crafting_table: none within 32 blocks (place one)`)
    await walk(agent, task, new goals.GoalNear(table.position.x, table.position.y, table.position.z, 2), 'reach the crafting table')
    table = bot.blockAt(table.position)
  }
  check(task)
  await withTimeout(bot.craft(recipe, times, table), 20000, `crafting ${item} timed out`)
  check(task)
}

function withTimeout (promise, ms, message) {
  let timer
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((resolve, reject) => { timer = setTimeout(() => reject(new Error(message)), ms) })
  ])
}

async function place (agent, task, { block, x, y, z, player, px, py, pz }) {
  // At (x, y, z); else next to `player` (walks there first; (px, py, pz): where that player was reported, for one
  // this client has not been shown); else next to the bot.
  const bot = agent.bot
  if (!bot.inventory.items().some((i) => i.name === block)) throw new Error(`missing ingredients: no ${block} in the inventory to place`)
  if (x !== undefined && x !== null) {
    const targetPos = new Vec3(Math.floor(x), Math.floor(y), Math.floor(z))
    await walk(agent, task, new goals.GoalNear(targetPos.x, targetPos.y, targetPos.z, 3), `reach (${x}, ${y}, ${z})`)
    await putBlock(bot, task, block, targetPos)
    return
  }
  if (player) await walkToPlayer(agent, task, player, px, py, pz)
  // A free spot next to the bot; one the server refused (someone stepped in) gives way to the next.
  const refused = []
  for (let attempt = 0; ; attempt++) {
    const spot = freeSpotNear(bot, refused)
    if (!spot) throw new Error(`no free spot to place ${block} next to the bot`)
    try {
      await putBlock(bot, task, block, spot)
      return
    } catch (err) {
      check(task)
      if (attempt === 2) throw err
      refused.push(spot)
    }
  }
}

async function walkToPlayer (agent, task, player, x, y, z) {
  // Within 2 blocks of `player`: where this client sees it, else (x, y, z) as reported (flying-squid announces players
  // only as they come into range). Returns where it walked to.
  const seen = agent.bot.players[player]?.entity
  if (!seen && (x === undefined || x === null)) throw new Error(`player ${JSON.stringify(player)} is not in sight`)
  const where = seen ? seen.position : new Vec3(x, y, z)
  await walk(agent, task, new goals.GoalNear(where.x, where.y, where.z, 2), `reach ${player}`)
  return where
}

async function putBlock (bot, task, block, targetPos) {
  const item = bot.inventory.items().find((i) => i.name === block)
  if (!item) throw new Error(`missing ingredients: no ${block} in the inventory to place`)
  const below = bot.blockAt(targetPos.offset(0, -1, 0))
  const here = bot.blockAt(targetPos)
  if (!below || below.boundingBox !== 'block') throw new Error(`nothing solid under (${targetPos.x}, ${targetPos.y}, ${targetPos.z}) to place ${block} on`)
  if (here && here.boundingBox === 'block') throw new Error(`(${targetPos.x}, ${targetPos.y}, ${targetPos.z}) is taken by ${here.name}`)
  await bot.equip(item, 'hand')
  check(task)
  await bot.lookAt(targetPos.offset(0.5, 0, 0.5), true)
  try {
    await withTimeout(bot.placeBlock(below, new Vec3(0, 1, 0)), 5000, 'no block update')
  } catch (err) {
    // flying-squid may not echo the block update mineflayer waits for; the block itself decides.
  }
  await bot.waitForTicks(4)
  const now = bot.blockAt(targetPos)
  if (!now || now.name !== block) throw new Error(`placing ${block} at (${targetPos.x}, ${targetPos.y}, ${targetPos.z}) did not take`)
}

function freeSpotNear (bot, skip = []) {
  // The nearest cell within 3 blocks (not the bot's own, a level up or down allowed) with air in it and above it and
  // something solid below: digging may have left holes next to the bot.
  const p = bot.entity.position.floored()
  const cells = []
  for (let dx = -3; dx <= 3; dx++) {
    for (let dz = -3; dz <= 3; dz++) {
      for (const dy of [0, -1, 1]) {
        if (Math.abs(dx) + Math.abs(dz) < 2) continue // not where the bot stands (or right against it)
        cells.push([dx * dx + dz * dz + 2 * dy * dy, p.offset(dx, dy, dz)])
      }
    }
  }
  cells.sort((a, b) => a[0] - b[0])
  // Not where a player's box (0.6 wide, 1.8 high) reaches into: the server refuses a block inside an entity.
  const players = Object.values(bot.players).filter((pl) => pl.entity).map((pl) => pl.entity.position)
  for (const [, spot] of cells) {
    if (skip.some((q) => q.equals(spot))) continue
    const here = bot.blockAt(spot); const below = bot.blockAt(spot.offset(0, -1, 0)); const above = bot.blockAt(spot.offset(0, 1, 0))
    if (!here || here.name !== 'air' || !above || above.name !== 'air' || !below || below.boundingBox !== 'block') continue
    if (players.some((q) => Math.abs(q.x - spot.x - 0.5) < 0.9 && Math.abs(q.z - spot.z - 0.5) < 0.9 && q.y < spot.y + 1 && q.y + 1.8 > spot.y)) continue
    return spot
  }
  return null
}

async function toss (agent, task, { item, count, player, x, y, z }) {
  // Walk to `player` and drop `count` of `item` at their feet (a hand-over). (x, y, z): where the player is, for a
  // player this client has not been shown (flying-squid announces players only as they come into range).
  const bot = agent.bot
  const info = bot.registry.itemsByName[item]
  if (!info) throw new Error(`unknown item ${JSON.stringify(item)}`)
  const have = bot.inventory.count(info.id, null)
  if (have < (count ?? 1)) throw new Error(`missing ingredients: has ${have} ${item}, needs ${count ?? 1} to give`)
  const where = await walkToPlayer(agent, task, player, x, y, z)
  const target = bot.players[player]?.entity?.position ?? where
  await bot.lookAt(target.offset(0, 0.2, 0), true)
  check(task)
  await bot.toss(info.id, null, count ?? 1)
  agent.tossedAt = Date.now() // its own idle pickup leaves the gift alone for a while
}

async function collect (agent, task, { radius }) {
  await pickUpNear(agent, task, agent.bot.entity.position, radius ?? 6)
}

async function explore (agent, task, { block, distance, seed }) {
  // Walk out in a direction drawn from the seed until `block` is within 32 blocks (or the walk ends).
  const bot = agent.bot
  const info = block ? bot.registry.blocksByName[block] : null
  if (block && !info) throw new Error(`unknown block ${JSON.stringify(block)}`)
  const start = bot.entity.position
  let state = ((seed ?? agent.seed) * 2654435761 + 12345) >>> 0
  for (let leg = 0; leg < 6; leg++) {
    check(task)
    if (info && bot.findBlock({ matching: info.id, maxDistance: 32 })) return
    state = (state * 1103515245 + 12345) >>> 0
    const angle = (state / 4294967296) * 2 * Math.PI
    const d = distance ?? 24
    const goal = new goals.GoalNearXZ(Math.round(start.x + d * Math.cos(angle)), Math.round(start.z + d * Math.sin(angle)), 2)
    try {
      await bot.pathfinder.goto(goal)
    } catch (err) {
      check(task)
    }
  }
  if (info && !bot.findBlock({ matching: info.id, maxDistance: 32 })) throw new Error(`no ${block} found while exploring`)
}

async function awaitBlock (agent, task, { block, maxDistance }) {
  // Until a block of this kind is within `maxDistance` (a teammate is placing it): woken by the block update, with a
  // scan once a second besides (a scan costs milliseconds of the event loop every bot of this bridge shares).
  const bot = agent.bot
  const info = bot.registry.blocksByName[block]
  if (!info) throw new Error(`unknown block ${JSON.stringify(block)}`)
  const range = maxDistance ?? 32
  let seen = false
  const onUpdate = (oldBlock, newBlock) => {
    if (newBlock && newBlock.type === info.id && bot.entity && newBlock.position.distanceTo(bot.entity.position) <= range) seen = true
  }
  bot.on('blockUpdate', onUpdate)
  try {
    for (let tick = 0; !seen; tick++) {
      if (tick % 20 === 0 && bot.findBlock({ matching: info.id, maxDistance: range })) return
      check(task)
      await bot.waitForTicks(1)
    }
  } finally {
    bot.removeListener('blockUpdate', onUpdate)
  }
}

async function chat (agent, task, { message }) {
  agent.bot.chat(String(message).slice(0, 256))
}

async function collectIdle (agent) {
  // An idle bot walks onto items dropped within 8 blocks of it (hand-overs from other bots).
  if (!agent.autoCollect || agent.status !== 'spawned' || (agent.task && !agent.task.done) || agent.collecting) return
  if (agent.tossedAt && Date.now() - agent.tossedAt < 8000) return
  const bot = agent.bot
  if (!bot.entity) return
  // Only items nearer to this bot than to any other player: a hand-over lands at the receiver's feet, while a
  // teammate's digging drops lie by the teammate (taking those would undo its work).
  const others = Object.values(bot.players).filter((p) => p.entity && p.username !== bot.username).map((p) => p.entity.position)
  const item = Object.values(bot.entities).find((e) => {
    if (e.name !== 'item') return false
    const mine = e.position.distanceTo(bot.entity.position)
    return mine < 8 && others.every((q) => e.position.distanceTo(q) > mine)
  })
  if (!item) return
  agent.collecting = true
  try {
    await bot.pathfinder.goto(new goals.GoalNear(item.position.x, item.position.y, item.position.z, 0.5))
  } catch (err) {
  } finally {
    agent.collecting = false
  }
}

function quit (agent) {
  try { agent.bot.quit() } catch (err) {}
  agent.status = 'ended'
}

module.exports = { createAgent, snapshot, chatSince, startTask, cancelTask, quit }

// A top-down picture: the name of the highest non-air block of every column within `radius` of the bot (for
// render()); one JSON list of rows, x across, z down.
function topdown (agent, radius) {
  const bot = agent.bot
  if (agent.status !== 'spawned' || !bot.entity) return '[]'
  const p = bot.entity.position.floored()
  const rows = []
  for (let dz = -radius; dz <= radius; dz++) {
    const row = []
    for (let dx = -radius; dx <= radius; dx++) {
      let name = 'air'
      for (let dy = 8; dy >= -4; dy--) {
        const block = bot.blockAt(p.offset(dx, dy, dz))
        if (block && block.name !== 'air' && block.name !== 'cave_air') { name = block.name; break }
      }
      row.push(name)
    }
    rows.push(row)
  }
  return JSON.stringify(rows)
}

module.exports.topdown = topdown
