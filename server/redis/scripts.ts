/**
 * @internal The Lua scripts of the Redis store. Each runs atomically in Redis, so a write, its version, its
 * change seq, its indexes and its announcement on the bus happen together or not at all: no change reaches
 * the bus without being stored, and no stored change is missing from `changes` (what resume reads).
 *
 * Every script declares the prefix as KEYS[1] (the call sites pass it first), so a Redis Cluster client routes
 * it to the prefix's slot; the keys it touches are all built from that prefix. Those that build keys from it
 * declare {@link MIGRATION_GUARD} as KEYS[2] (the call sites add it), so that none runs while the slot is
 * being moved between masters. Key layout under the prefix `p`
 * (by default `{capsync}:`, one hash tag, so on Redis Cluster every key and channel of one deployment lives in
 * one slot: each script's keys, and the channels it SPUBLISHes on, are on the node that runs it):
 *   p..'meta'        hash: seq, horizon, created (counter), epoch
 *   p..'o:'..key     hash per address: address (JSON), type, state (absent for a tombstone), version, seq, at, created
 *   p..'order'       zset created -> key (every address, tombstones too: `list` order, as SQLite's `created`)
 *   p..'lex'         zset 0 -> key (prefix ranges for `listUnder`)
 *   p..'t:'..type    zset created -> key (live objects of a type)
 *   p..'changes'     zset seq -> key (each address once, at its latest change)
 *   p..'tomb'        zset at -> key (tombstones by deletion time)
 *   p..'turn:'..id   a turn script's reply, for a minute (see TURN)
 * Bus messages: "<version> <seq> <live>\n<[address,type] JSON>\n<state bytes>".
 */

/**
 * The name (under the prefix) of a key that is never written, declared by every script whose keys are built
 * from the prefix. Redis checks only a script's declared keys before it runs; while a Cluster slot migrates, a
 * script declaring just the prefix (no key of that name exists) would be sent on with ASK to the importing
 * master and run there over the keys moved so far, creating the others afresh: writes lost, keys that then
 * cannot be moved (BUSYKEY). Declaring two keys of which one is missing turns that into TRYAGAIN on the
 * importing master, which the client retries: during a move of the deployment's slot its scripts wait (and
 * fail after the client's retries), and none runs on half of the keys.
 */
export const MIGRATION_GUARD = '~migration-guard';

/**
 * The write of one put as a Lua function: `A[b..e]` are its arguments after the prefix (key, address JSON,
 * type, state, now, ifVersion ('' for none), header JSON, channels...). Returns {version, seq}, or
 * {0, current} when the object is not at ifVersion (0: no live object), writing nothing.
 */
const PUT_FN = `
local function put(p, A, b, e)
  local key, typ = A[b], A[b + 2]
  local ok = p .. 'o:' .. key
  local old = redis.call('HMGET', ok, 'type', 'created', 'version', 'state')
  if A[b + 5] ~= '' then
    local current = 0
    if old[4] then current = tonumber(old[3]) end
    if current ~= tonumber(A[b + 5]) then return {0, current} end
  end
  local seq = redis.call('HINCRBY', p .. 'meta', 'seq', 1)
  local version, created
  if old[1] then
    version = redis.call('HINCRBY', ok, 'version', 1)
    created = old[2]
    if old[1] ~= typ then redis.call('ZREM', p .. 't:' .. old[1], key) end
    redis.call('ZREM', p .. 'tomb', key)
  else
    version = 1
    created = redis.call('HINCRBY', p .. 'meta', 'created', 1)
    redis.call('HSET', ok, 'address', A[b + 1], 'version', 1, 'created', created)
    redis.call('ZADD', p .. 'order', created, key)
    redis.call('ZADD', p .. 'lex', 0, key)
  end
  redis.call('HSET', ok, 'type', typ, 'state', A[b + 3], 'seq', seq, 'at', A[b + 4])
  redis.call('ZADD', p .. 't:' .. typ, created, key)
  redis.call('ZADD', p .. 'changes', seq, key)
  local message = version .. ' ' .. seq .. ' 1\\n' .. A[b + 6] .. '\\n' .. A[b + 3]
  for i = b + 7, e do redis.call('SPUBLISH', A[i], message) end
  return {version, seq}
end
`;

/** One deletion as a Lua function: `A[b..e]` are key, now, channels... Returns {version, seq} or false when there was nothing to delete. */
const DELETE_FN = `
local function del(p, A, b, e)
  local key = A[b]
  local ok = p .. 'o:' .. key
  local row = redis.call('HMGET', ok, 'type', 'address')
  if not row[1] or redis.call('HEXISTS', ok, 'state') == 0 then return false end
  local seq = redis.call('HINCRBY', p .. 'meta', 'seq', 1)
  local version = redis.call('HINCRBY', ok, 'version', 1)
  redis.call('HDEL', ok, 'state')
  redis.call('HSET', ok, 'seq', seq, 'at', A[b + 1])
  redis.call('ZREM', p .. 't:' .. row[1], key)
  redis.call('ZADD', p .. 'changes', seq, key)
  redis.call('ZADD', p .. 'tomb', A[b + 1], key)
  local header = '[' .. row[2] .. ',' .. cjson.encode(row[1]) .. ']'
  local message = version .. ' ' .. seq .. ' 0\\n' .. header .. '\\n'
  for i = b + 2, e do redis.call('SPUBLISH', A[i], message) end
  return {version, seq}
end
`;

/**
 * KEYS: prefix. ARGV: channel. Publishes the store's seq on the channel: run one at a time with the writes, so
 * every change up to that seq was published before it, and a subscriber that hears it has heard them all.
 */
export const MARK = `
redis.call('SPUBLISH', ARGV[1], redis.call('HGET', KEYS[1] .. 'meta', 'seq') or '0')
return 0
`;

/** Rows of the given keys: address, type, state ("" for a tombstone), version, seq, live ("1"/"0") flattened, 6 per row; missing keys skipped. */
const ROWS = `
local function rows(p, keys, liveOnly)
  local out = {}
  for _, key in ipairs(keys) do
    local r = redis.call('HMGET', p .. 'o:' .. key, 'address', 'type', 'state', 'version', 'seq')
    if r[1] and (r[3] or not liveOnly) then
      out[#out + 1] = r[1]; out[#out + 1] = r[2]; out[#out + 1] = r[3] or ''; out[#out + 1] = r[4]; out[#out + 1] = r[5]
      out[#out + 1] = r[3] and '1' or '0'
    end
  end
  return out
end
`;

/** KEYS: prefix. ARGV: key. One live row or empty. */
export const GET = `${ROWS}
return rows(KEYS[1], {ARGV[1]}, true)
`;

/** KEYS: prefix. ARGV: type. Live rows of a type in creation order. */
export const LIST = `${ROWS}
return rows(KEYS[1], redis.call('ZRANGE', KEYS[1] .. 't:' .. ARGV[1], 0, -1), true)
`;

/** KEYS: prefix. ARGV: since, limit. Rows (tombstones too) of changes after `since`, in seq order. */
export const CHANGES = `${ROWS}
local keys = redis.call('ZRANGEBYSCORE', KEYS[1] .. 'changes', '(' .. ARGV[1], '+inf', 'LIMIT', 0, tonumber(ARGV[2]))
return rows(KEYS[1], keys, false)
`;

/**
 * KEYS: prefix. ARGV: whole, open, openEnd, limit ('' for whole means the empty prefix: everything). Live rows
 * under the prefix, in creation order, at most limit.
 */
export const LIST_UNDER = `${ROWS}
local p = KEYS[1]
local keys
if ARGV[1] == '' then
  keys = redis.call('ZRANGE', p .. 'order', 0, -1)
else
  keys = redis.call('ZRANGEBYLEX', p .. 'lex', '[' .. ARGV[2], '(' .. ARGV[3])
  if redis.call('EXISTS', p .. 'o:' .. ARGV[1]) == 1 then keys[#keys + 1] = ARGV[1] end
  local order = {}
  for _, k in ipairs(keys) do order[k] = tonumber(redis.call('ZSCORE', p .. 'order', k)) end
  table.sort(keys, function(a, b) return order[a] < order[b] end)
end
local live = {}
for _, k in ipairs(keys) do
  if #live >= tonumber(ARGV[4]) then break end
  if redis.call('HEXISTS', p .. 'o:' .. k, 'state') == 1 then live[#live + 1] = k end
end
return rows(p, live, true)
`;

/** KEYS: prefix. ARGV: before. Drops tombstones deleted before `before`, raises the horizon; returns how many. */
export const PRUNE_TOMBSTONES = `
local p = KEYS[1]
local keys = redis.call('ZRANGEBYSCORE', p .. 'tomb', '-inf', '(' .. ARGV[1])
local highest = 0
for _, key in ipairs(keys) do
  local seq = tonumber(redis.call('HGET', p .. 'o:' .. key, 'seq'))
  if seq > highest then highest = seq end
  redis.call('DEL', p .. 'o:' .. key)
  redis.call('ZREM', p .. 'order', key)
  redis.call('ZREM', p .. 'lex', key)
  redis.call('ZREM', p .. 'changes', key)
  redis.call('ZREM', p .. 'tomb', key)
end
local horizon = tonumber(redis.call('HGET', p .. 'meta', 'horizon') or '0')
if highest > horizon then redis.call('HSET', p .. 'meta', 'horizon', highest) end
return #keys
`;

/** KEYS: the call's hash, the expiry zset. ARGV: owner, expiresAt, member. Returns false when claimed now, else {owner, outcome or '', expiresAt, hasOutcome}. */
export const CLAIM_CALL = `
if redis.call('HSETNX', KEYS[1], 'owner', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'expiresAt', ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
  return false
end
local r = redis.call('HMGET', KEYS[1], 'owner', 'outcome', 'expiresAt')
return {r[1], r[2] or '', r[3], r[2] and '1' or '0'}
`;

/** KEYS: the call's hash. ARGV: outcome. Stores it only if the record still exists. */
export const FINISH_CALL = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'outcome', ARGV[1]) end
return 0
`;

/**
 * A group commit of keyed-call bookkeeping as a Lua function: `A[b..]` are pruneBefore ('' for none), then
 * the counts of outcomes, forgets and claims, then outcomes as (member, bytes), forgets as member, claims as
 * (member, owner, expiresAt). Returns, per claim, 0 for a key now claimed or the record as CLAIM_CALL returns it.
 */
const COMMIT_CALLS_FN = `
local function commitCalls(p, A, b)
  local nOutcomes, nForget, nClaims = tonumber(A[b + 1]), tonumber(A[b + 2]), tonumber(A[b + 3])
  local i = b + 4
  for _ = 1, nOutcomes do
    local key = p .. 'call:' .. A[i]
    if redis.call('EXISTS', key) == 1 then redis.call('HSET', key, 'outcome', A[i + 1]) end
    i = i + 2
  end
  for _ = 1, nForget do
    redis.call('DEL', p .. 'call:' .. A[i]); redis.call('ZREM', p .. 'calls', A[i])
    i = i + 1
  end
  if A[b] ~= '' then
    local members = redis.call('ZRANGEBYSCORE', p .. 'calls', '-inf', '(' .. A[b])
    for _, m in ipairs(members) do redis.call('DEL', p .. 'call:' .. m); redis.call('ZREM', p .. 'calls', m) end
  end
  local found = {}
  for c = 1, nClaims do
    local key = p .. 'call:' .. A[i]
    if redis.call('HSETNX', key, 'owner', A[i + 1]) == 1 then
      redis.call('HSET', key, 'expiresAt', A[i + 2])
      redis.call('ZADD', p .. 'calls', A[i + 2], A[i])
      found[c] = 0
    else
      local r = redis.call('HMGET', key, 'owner', 'outcome', 'expiresAt')
      found[c] = {r[1], r[2] or '', r[3], r[2] and '1' or '0'}
    end
    i = i + 3
  end
  return found
end
`;

/**
 * How long a turn script's reply is kept for a resend (ms): past any command timeout, so a script resent
 * on a new connection always finds the reply of its first run.
 */
export const TURN_REPLY_TTL_MS = 60_000;

/**
 * KEYS: prefix. ARGV: the script's id (unique per node and script), then the writes of one event-loop turn,
 * each as an opcode ('p' put, 'd' delete, 'c' call commit), its argument count n and its n arguments (those of
 * `put`, `del` or `commitCalls` above). Runs them in order, each in its own pcall: a write that fails (a Redis
 * error) fails alone, as it would as a script of its own, and the others still happen. Returns, per write,
 * {1, its reply} ({1, 0} for a deletion of nothing) or {0, the error message}. One script for the turn: one
 * AOF write and fsync under `appendfsync always`, and every reply only after it.
 *
 * The reply is kept for `TURN_REPLY_TTL_MS` under `turn:<id>`, and a script whose id is there is
 * answered from it without running again: a client resends the commands in flight when its connection
 * drops (ioredis does), and a script that ran but whose reply was lost must not write twice (a put would
 * bump the version again, a conditional put conflict with itself and be retried, a call's claim find
 * itself and make the call's outcome unknown).
 */
export const TURN = `${PUT_FN}${DELETE_FN}${COMMIT_CALLS_FN}
local p = KEYS[1]
local done = redis.call('GET', p .. 'turn:' .. ARGV[1])
if done then return cmsgpack.unpack(done) end
local out = {}
local i = 2
while i <= #ARGV do
  local op, n = ARGV[i], tonumber(ARGV[i + 1])
  local b, e = i + 2, i + 1 + n
  local ok, r
  if op == 'p' then ok, r = pcall(put, p, ARGV, b, e)
  elseif op == 'd' then ok, r = pcall(del, p, ARGV, b, e)
  elseif op == 'c' then ok, r = pcall(commitCalls, p, ARGV, b)
  else ok, r = false, 'unknown write ' .. tostring(op) end
  if ok then
    if r == false then r = 0 end
    out[#out + 1] = {1, r}
  else
    if type(r) == 'table' then r = r.err or 'error' end
    out[#out + 1] = {0, tostring(r)}
  end
  i = e + 1
end
redis.call('SET', p .. 'turn:' .. ARGV[1], cmsgpack.pack(out), 'PX', ${TURN_REPLY_TTL_MS})
return out
`;

/** KEYS: prefix. ARGV: now. Drops call records that expired before now. */
export const PRUNE_CALLS = `
local p = KEYS[1]
local members = redis.call('ZRANGEBYSCORE', p .. 'calls', '-inf', '(' .. ARGV[1])
for _, m in ipairs(members) do redis.call('DEL', p .. 'call:' .. m); redis.call('ZREM', p .. 'calls', m) end
return #members
`;

/**
 * KEYS: prefix. ARGV: writer, then id, expiresAt ('' for never) pairs. Adds the ids not yet in the set and
 * announces those on the revocation feed (one stream entry); returns how many were new.
 */
export const REVOKE = `
local p = KEYS[1]
local fresh = {}
for i = 2, #ARGV, 2 do
  if redis.call('HSETNX', p .. 'rev', ARGV[i], ARGV[i + 1]) == 1 then
    if ARGV[i + 1] ~= '' then redis.call('ZADD', p .. 'rev:exp', ARGV[i + 1], ARGV[i]) end
    fresh[#fresh + 1] = ARGV[i]; fresh[#fresh + 1] = ARGV[i + 1]
  end
end
if #fresh > 0 then
  redis.call('XADD', p .. 'rev:feed', 'MAXLEN', '~', 100000, '*', 'by', ARGV[1], 'kind', 'ids', unpack(fresh))
end
return #fresh / 2
`;

/** KEYS: prefix. ARGV: now. Drops revocation entries whose capability expired before now. */
export const PRUNE_REVOCATIONS = `
local p = KEYS[1]
local ids = redis.call('ZRANGEBYSCORE', p .. 'rev:exp', '-inf', '(' .. ARGV[1])
for _, id in ipairs(ids) do redis.call('HDEL', p .. 'rev', id); redis.call('ZREM', p .. 'rev:exp', id) end
return #ids
`;

/** KEYS: prefix. ARGV: writer, user. Raises the user's generation by one and announces it on the feed; returns the new generation. */
export const BUMP_GENERATION = `
local p = KEYS[1]
local generation = redis.call('HINCRBY', p .. 'gen', ARGV[2], 1)
redis.call('XADD', p .. 'rev:feed', 'MAXLEN', '~', 100000, '*', 'by', ARGV[1], 'kind', 'gen', ARGV[2], generation)
return generation
`;

/** KEYS: prefix. ARGV: now. Drops issued records (\`issued:<user>\` fields) whose capability expired before now. */
export const PRUNE_ISSUED = `
local p = KEYS[1]
local members = redis.call('ZRANGEBYSCORE', p .. 'issued:exp', '-inf', '(' .. ARGV[1])
for _, m in ipairs(members) do
  local cut = string.find(m, '\\0', 1, true)
  redis.call('HDEL', p .. 'issued:' .. string.sub(m, 1, cut - 1), string.sub(m, cut + 1))
  redis.call('ZREM', p .. 'issued:exp', m)
end
return #members
`;
