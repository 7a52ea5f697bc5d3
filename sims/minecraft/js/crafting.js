// Crafting for flying-squid, which has none: the 2x2 grid of the player inventory and the 3x3 grid of a crafting table,
// matched against minecraft-data's recipes (shaped, mirrored, shapeless), so a client's real `bot.craft` works.
//
// flying-squid hands window clicks to prismarine-windows without the clicked item, so pickups misbehave and the
// inventory desyncs. Here clicks are applied server-side with the server's own slot contents (vanilla is
// authoritative too), the result slot is recomputed whenever a grid slot changes, taking the result consumes one of
// each ingredient, and the client gets the changed slots back. A crafting table opens a `minecraft:crafting` window
// whose inventory part mirrors the player inventory; closing it returns the grid to the inventory. Items thrown out
// of a window become item entities (see throwItems).

'use strict'

const { Vec3 } = require('vec3')

module.exports = function crafting (serv) {
  const registry = serv.registry
  const Item = require('prismarine-item')(registry)
  const windows = require('prismarine-windows')(registry)

  // ------------------------------------------------------------------ recipes
  const shaped = [] // { rows: [[id|null]], result }
  const shapeless = [] // { ids: sorted [id], result }
  for (const list of Object.values(registry.recipes)) {
    for (const recipe of list) {
      if (recipe.inShape) {
        const rows = recipe.inShape.map((row) => row.map((cell) => (cell == null || cell === -1 ? null : cellId(cell))))
        shaped.push({ rows: trim(rows), result: recipe.result })
      } else if (recipe.ingredients) {
        shapeless.push({ ids: recipe.ingredients.map(cellId).sort((a, b) => a - b), result: recipe.result })
      }
    }
  }

  function cellId (cell) {
    return typeof cell === 'object' && cell !== null ? cell.id : cell
  }

  function trim (rows) {
    // Smallest rectangle holding every non-empty cell.
    let top = rows.length; let bottom = -1; let left = Infinity; let right = -1
    rows.forEach((row, y) => row.forEach((cell, x) => {
      if (cell !== null) {
        top = Math.min(top, y); bottom = Math.max(bottom, y); left = Math.min(left, x); right = Math.max(right, x)
      }
    }))
    if (bottom < 0) return []
    const out = []
    for (let y = top; y <= bottom; y++) {
      const row = []
      for (let x = left; x <= right; x++) row.push(rows[y][x] ?? null)
      out.push(row)
    }
    return out
  }

  function sameRows (a, b) {
    if (a.length !== b.length || a[0].length !== b[0].length) return false
    return a.every((row, y) => row.every((cell, x) => cell === b[y][x]))
  }

  /** The recipe result for a grid (ids or null, row-major, `size` x `size`), or null. */
  function match (ids, size) {
    const rows = []
    for (let y = 0; y < size; y++) rows.push(ids.slice(y * size, (y + 1) * size))
    const pattern = trim(rows)
    if (pattern.length === 0) return null
    const mirrored = pattern.map((row) => [...row].reverse())
    for (const recipe of shaped) {
      if (sameRows(recipe.rows, pattern) || sameRows(recipe.rows, mirrored)) return recipe.result
    }
    const present = ids.filter((id) => id !== null).sort((a, b) => a - b)
    for (const recipe of shapeless) {
      if (recipe.ids.length === present.length && recipe.ids.every((id, i) => id === present[i])) return recipe.result
    }
    return null
  }

  // ------------------------------------------------------------------ per player
  serv.on('newPlayer', (player) => {
    const inventory = player.inventory // flying-squid's window: 0 result, 1-4 grid, 9-44 inventory, 45 offhand
    let table = null // the open crafting-table window: 0 result, 1-9 grid, 10-45 = inventory 9-44

    function gridOf (window) {
      return window === inventory ? { first: 1, size: 2 } : { first: 1, size: 3 }
    }

    function refreshResult (window) {
      const { first, size } = gridOf(window)
      const ids = []
      for (let i = 0; i < size * size; i++) ids.push(window.slots[first + i]?.type ?? null)
      const result = match(ids, size)
      window.updateSlot(0, result ? new Item(result.id, result.count) : null)
    }

    function consumeIngredients (window) {
      const { first, size } = gridOf(window)
      for (let i = first; i < first + size * size; i++) {
        const item = window.slots[i]
        if (!item) continue
        if (item.count > 1) {
          item.count -= 1
          window.updateSlot(i, item)
        } else {
          window.updateSlot(i, null)
        }
      }
      refreshResult(window)
    }

    function send (window, slot) {
      player._client.write('set_slot', {
        windowId: window === inventory ? 0 : window.id,
        stateId: 0,
        slot,
        item: Item.toNotch(window.slots[slot])
      })
    }

    function syncTableToInventory () {
      // The table window's inventory part (10-45) is the player inventory (9-44).
      for (let i = 0; i < 36; i++) {
        const item = table.slots[10 + i]
        inventory.updateSlot(9 + i, item ? new Item(item.type, item.count, item.metadata, item.nbt) : null)
      }
    }

    function onClick (click) {
      const window = table && click.windowId === table.id ? table : click.windowId === 0 ? inventory : null
      if (window === null) return
      const { slot, mode, mouseButton } = click
      if (mode > 1 && mode !== 4) {
        resync(window) // drags, number keys, double clicks: not supported; the client is told the truth
        return
      }
      const dropped = droppedBy(window, click)
      const before = window.slots.map((item) => (item ? `${item.type}x${item.count}` : ''))
      const tookResult = slot === 0 && window.slots[0] !== null
      const heldBefore = window.selectedItem ? window.selectedItem.count : 0
      try {
        window.acceptClick({ mode, mouseButton, slot, item: slot === -999 ? null : window.slots[slot] ?? null })
      } catch (err) {
        serv.emit('error', err)
      }
      if (tookResult) {
        const gained = (window.selectedItem ? window.selectedItem.count : 0) - heldBefore
        const movedByShift = mode === 1 && window.slots[0] === null
        if (gained > 0 || movedByShift) consumeIngredients(window)
        else refreshResult(window)
      } else {
        const { first, size } = gridOf(window)
        if (slot >= first && slot < first + size * size) refreshResult(window)
      }
      if (dropped) throwItems(player, dropped.type, dropped.count)
      if (window === table) syncTableToInventory()
      // Vanilla sends the result slot after every grid click, changed or not, and mineflayer's bot.craft waits for
      // it: a grid whose partial pattern matches nothing (one cobblestone) would otherwise stall the craft.
      const { first, size } = gridOf(window)
      const gridClick = slot >= 0 && slot < first + size * size
      window.slots.forEach((item, i) => {
        if ((item ? `${item.type}x${item.count}` : '') !== before[i] || (i === 0 && gridClick)) send(window, i)
      })
      player._client.write('set_slot', {
        windowId: -1, stateId: 0, slot: -1, item: Item.toNotch(window.selectedItem)
      })
    }

    function droppedBy (window, { mode, mouseButton, slot }) {
      // What a click throws out of the window: the cursor stack (or one of it) clicked outside, or a slot's item
      // (or its whole stack) dropped with the drop key.
      if (mode === 0 && slot === -999 && window.selectedItem) {
        return { type: window.selectedItem.type, count: mouseButton === 0 ? window.selectedItem.count : 1 }
      }
      if (mode === 4 && slot >= 0 && window.slots[slot]) {
        return { type: window.slots[slot].type, count: mouseButton === 0 ? 1 : window.slots[slot].count }
      }
      return null
    }

    function resync (window) {
      player._client.write('window_items', {
        windowId: window === inventory ? 0 : window.id,
        stateId: 0,
        items: window.slots.map((item) => Item.toNotch(item)),
        carriedItem: Item.toNotch(window.selectedItem)
      })
    }

    function returnGrid (window) {
      // Items left in a grid (and on the cursor) go back into the inventory, as when a vanilla window closes.
      const { first, size } = gridOf(window)
      const leftovers = []
      for (let i = first; i < first + size * size; i++) {
        if (window.slots[i]) leftovers.push(window.slots[i])
        window.updateSlot(i, null)
      }
      if (window.selectedItem) leftovers.push(window.selectedItem)
      window.selectedItem = null
      if (window === table) syncTableToInventory()
      inventory.updateSlot(0, null)
      for (const item of leftovers) {
        const slot = inventory.findInventoryItem(item.type, item.metadata, true)?.slot ?? inventory.firstEmptyInventorySlot()
        if (slot == null) continue
        const existing = inventory.slots[slot]
        inventory.updateSlot(slot, existing ? new Item(item.type, existing.count + item.count) : item)
      }
    }

    // Replace flying-squid's click handler (it loses the clicked item) with the one above.
    player._client.removeAllListeners('window_click')
    player._client.on('window_click', onClick)
    player._client.on('close_window', ({ windowId }) => {
      if (table && windowId === table.id) {
        returnGrid(table)
        table = null
      } else if (windowId === 0) {
        returnGrid(inventory)
      }
    })
    player._client.on('end', () => { table = null })

    player.openCraftingTable = () => {
      const id = (player.windowId = (player.windowId ?? 0) % 100 + 1)
      const type = registry.supportFeature('village&pillageInventoryWindows') ? 'minecraft:crafting' : 'minecraft:crafting_table'
      table = windows.createWindow(id, type, 'Crafting')
      for (let i = 0; i < 36; i++) {
        const item = inventory.slots[9 + i]
        table.slots[10 + i] = item ? new Item(item.type, item.count, item.metadata, item.nbt) : null
      }
      player._client.write('open_window', {
        windowId: id,
        inventoryType: windows.windows[type].type,
        windowTitle: serv._createChatComponent({ translate: 'container.crafting' }).toNetworkFormat()
      })
      resync(table)
    }
  })

  // ------------------------------------------------------------------ thrown items
  // flying-squid spawns no entity for items a player throws, and its pickup would hand them straight back to the
  // thrower. Thrown items fly where the player looks (as in vanilla: ~0.3 blocks/tick) and only others may pick them
  // up during the first 2 s.
  const thrown = new Set()

  function throwItems (player, itemId, count) {
    const yaw = player.yaw; const pitch = player.pitch
    // flying-squid keeps yaw/pitch as protocol bytes (256 per turn); yaw 0 faces +z, 64 faces -x; pitch down > 0
    const yawR = (yaw * 2 * Math.PI) / 256; const pitchR = (pitch * 2 * Math.PI) / 256
    const dir = new Vec3(-Math.sin(yawR) * Math.cos(pitchR), -Math.sin(pitchR), Math.cos(yawR) * Math.cos(pitchR))
    for (let i = 0; i < count; i++) {
      const entity = serv.spawnObject(registry.entitiesByName.item.id, player.world, player.position.offset(0, 1.3, 0), {
        velocity: new Vec3(dir.x * 6, 2 + dir.y * 3, dir.z * 6),
        itemId,
        itemCount: 1,
        pickupTime: undefined,
        deathTime: 5 * 60 * 1000
      })
      entity.thrownBy = player
      entity.thrownAt = Date.now()
      thrown.add(entity)
    }
  }

  serv.on('tick', () => {
    for (const entity of thrown) {
      if (!serv.entities[entity.id]) { thrown.delete(entity); continue }
      const age = Date.now() - entity.thrownAt
      if (age < 400) continue
      const takers = serv.players.filter((p) => p.world === entity.world && p.position.distanceTo(entity.position) <= 1.75 &&
        (age >= 2000 || p !== entity.thrownBy))
      if (takers.length) {
        takers[0].collect(entity)
        thrown.delete(entity)
      }
    }
  })

  serv.onBlockInteraction('crafting_table', async ({ player }) => {
    if (player.crouching) return false
    player.openCraftingTable()
    return true
  })

  serv.craftingMatch = match
}
