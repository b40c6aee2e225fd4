-- The shared counters' scripts (src/shared/counters.c runs them; SPEC.md §6). Each one is a
-- single atomic step in Redis: no other instance sees a half-made reservation or charge.
-- They are the Redis twin of billing/ledger.c and limits/ratelimit.c, and follow the same
-- rules (ledger.h states them); tests/unit/test_shared_ledger.c holds both to one behaviour
-- step by step, tests/integration/scale.test.mjs runs three instances on them.
--
-- Keys (P is the prefix, "tg:" by default; ORG an organisation id):
--   P a:ORG   hash   the account: cr (Σ remaining of live grants), ovd (overdraft), clm
--                    (overdraft claimed by grants being written), gr (Σ amount granted),
--                    cons (Σ consumed), res (reserved), m (month of the spends), sp (month
--                    spend), lim (hard limit); per project PRJ: s:PRJ, r:PRJ, l:PRJ
--   P g:ORG   zset   live grants in the order they pay, by member
--                    "EXP16|K|GRANTED16|SEQ12|ID" (EXP 9999999999999999 when none; K 0 free
--                    credit, 1 purchased; SEQ the account's grant sequence, field seq of a:ORG:
--                    grants of one second pay in the order they were made)
--   P gr:ORG  hash   grant id → remaining (0 once used up; dropped when expired)
--   P rv      hash   reservation id → "ORG\tPRJ\tAMOUNT"
--   P ir:INST set    the reservations an instance holds
--   P sw:INST set    its reservations a sweep gave back while they lived (a day)
--   P inst    zset   instance → lease deadline (ms, Redis's clock)
--   P rl:ORG\nMODEL, P rl:PRJ\nMODEL   hash   GCRA theoretical arrival times 1..4 (µs)
--
-- Numbers: Lua in Redis has doubles, exact below 2^53; counters.c keeps every amount below
-- 2^53 nano-dollars (9 million dollars) and formats with %d, never with tostring.
-- @script common
local function s(x) return string.format('%d', x) end
local function n(x) return tonumber(x) or 0 end
-- The grant id of a member of g:ORG: after its last '|'.
local function grant_id(m) return string.match(m, '[^|]*$') end
local W = {60e6, 86400e6, 60e6, 86400e6} -- RPM, RPD, TPM, TPD windows (µs)
local clock = redis.call('TIME')
local now_s = tonumber(clock[1])
local now_us = (now_s - 1700000000) * 1e6 + tonumber(clock[2])

-- A new calendar month starts with no spend (reservations carry over: they are live).
local function roll(a, month)
  local m = n(redis.call('HGET', a, 'm'))
  if month <= m then return end
  local f = redis.call('HKEYS', a)
  for _, k in ipairs(f) do
    if k == 'sp' or string.sub(k, 1, 2) == 's:' then redis.call('HSET', a, k, '0') end
  end
  redis.call('HSET', a, 'm', s(month))
end

-- Drops grants whose expiry has come: their remaining is no longer credit.
local function expire(a, g, gr)
  while true do
    local first = redis.call('ZRANGE', g, 0, 0)
    if #first == 0 or tonumber(string.sub(first[1], 1, 16)) > now_s then return end
    local id = grant_id(first[1])
    redis.call('HINCRBY', a, 'cr', s(-n(redis.call('HGET', gr, id))))
    redis.call('HDEL', gr, id)
    redis.call('ZREM', g, first[1])
  end
end

-- A bucket pair's limits from ARGV[base .. base+3]; nil when none is set.
local function limits(base)
  local l, any = {}, false
  for k = 1, 4 do
    l[k] = n(ARGV[base + k - 1])
    if l[k] > 0 then any = true end
  end
  if any then return l end
  return nil
end
-- @script admit
-- KEYS: account, grant order, grant remaining, reservations, instance's reservations,
--       org bucket, project bucket
-- ARGV: 1 reservation id, 2 project, 3 amount, 4 exempt, 5 tier cap, 6 month, 7 org id,
--       8 tokens, 9..12 org limits (RPM RPD TPM TPD), 13..16 project limits
-- Returns {0, have, req limit, req remaining, req reset ms, tok limit, tok remaining,
--          tok reset ms}, {1, which, project, limit, used, requested, retry ms, too large}
--          (rate limit) or {2, error (1 credit, 2 tier cap, 3 org, 4 project), left}.
local a, g, gr = KEYS[1], KEYS[2], KEYS[3]
local proj, amount, exempt = ARGV[2], n(ARGV[3]), ARGV[4] == '1'
local tokens = n(ARGV[8])
local scopes = {}
local lo, lp = limits(9), limits(13)
if lo then scopes[#scopes + 1] = {key = KEYS[6], lim = lo, project = 0} end
if lp then scopes[#scopes + 1] = {key = KEYS[7], lim = lp, project = 1} end

-- rate limits: decide every bucket, refuse with the one that needs the longest wait
local refusal, worst = nil, -1
for _, sc in ipairs(scopes) do
  for k = 3, 4 do
    if sc.lim[k] > 0 and tokens > sc.lim[k] then
      return {1, k - 1, sc.project, sc.lim[k], 0, tokens, 0, 1}
    end
  end
  local tat = redis.call('HMGET', sc.key, '1', '2', '3', '4')
  sc.new = {}
  for k = 1, 4 do
    local L = sc.lim[k]
    if L > 0 then
      local units = tokens
      if k <= 2 then units = 1 end
      local t = math.max(n(tat[k]), now_us)
      local nt = t + units * W[k] / L
      local over = nt - now_us - W[k]
      if over > 0.5 then
        local wait = math.ceil(over / 1000)
        if wait > worst then
          worst = wait
          local used = math.min(math.ceil((t - now_us) * L / W[k] - 1e-6), L)
          refusal = {1, k - 1, sc.project, L, used, units, wait, 0}
        end
      else
        sc.new[k] = nt
      end
    end
  end
end
if refusal then return refusal end

local function take_limits(kinds)
  for _, sc in ipairs(scopes) do
    local f = {}
    for k = 1, kinds do
      if sc.new[k] then
        f[#f + 1] = tostring(k)
        f[#f + 1] = string.format('%.3f', sc.new[k])
      end
    end
    if #f > 0 then redis.call('HSET', sc.key, unpack(f)) end
    redis.call('PEXPIRE', sc.key, 86400000 + 60000)
  end
end

-- money: credit, the tier's monthly cap, the organisation's and the project's hard limits
if not exempt then expire(a, g, gr) end
local v = redis.call('HMGET', a, 'cr', 'ovd', 'res', 'sp', 'lim', 'r:' .. proj, 's:' .. proj,
                     'l:' .. proj, 'm')
if n(v[9]) < n(ARGV[6]) then -- a new month: no spend yet
  roll(a, n(ARGV[6]))
  v[4], v[7] = 0, 0
end
local cr, ovd, res, sp, lim = n(v[1]), n(v[2]), n(v[3]), n(v[4]), n(v[5])
local pres, psp, plim = n(v[6]), n(v[7]), n(v[8])
local held, cap = sp + res, n(ARGV[5])
local err, room = 0, 0
if not exempt then room = cr - ovd - res end
if not exempt and room < amount then err = 1
elseif not exempt and cap > 0 and cap - held < amount then err, room = 2, cap - held
elseif lim > 0 and lim - held < amount then err, room = 3, lim - held
elseif plim > 0 and plim - (psp + pres) < amount then err, room = 4, plim - (psp + pres)
end
if err ~= 0 then
  take_limits(2) -- the request counts; its tokens do not
  return {2, err, s(room)}
end
redis.call('HSET', a, 'res', s(res + amount), 'r:' .. proj, s(pres + amount))
redis.call('HSET', KEYS[4], ARGV[1], ARGV[7] .. '\t' .. proj .. '\t' .. s(amount))
redis.call('SADD', KEYS[5], ARGV[1])
take_limits(4)

-- the x-ratelimit-* headers: the per-minute buckets closest to their limits
local out = {0, 0, 0, 0, 0, 0, 0, 0}
local best = {-1, -1}
for _, sc in ipairs(scopes) do
  for x, k in ipairs({1, 3}) do
    local L = sc.lim[k]
    if L > 0 then
      local busy = math.max(sc.new[k] - now_us, 0)
      local rem = math.max(math.floor(L - busy * L / W[k] + 1e-6), 0)
      local frac = rem / L
      if best[x] < 0 or frac < best[x] then
        best[x] = frac
        out[2] = 1
        out[3 * x] = L
        out[3 * x + 1] = rem
        out[3 * x + 2] = math.ceil(busy / 1000)
      end
    end
  end
end
return out
-- @script settle
-- KEYS: as admit, and 8 the reservations of this instance that a sweep gave back
-- ARGV: 1 reservation id, 2 project, 3 cost, 4 exempt, 5 mode ("charge": from the grants;
--       "overdraft": all as overdraft, the usage record already says so; "release": no
--       charge), 6 month, 7 org id, 8 actual tokens, 9..16 limits as admit, 17 tokens
--       reserved, 18 amount reserved, 19 force (charge although the reservation is gone:
--       its lease ran out while the request lived), 20 the readiness mark a retry was made
--       for ('' for a first attempt): Redis rebuilt from the store since then already has it
-- KEYS 9: the readiness mark
-- Returns {charged, overdraft, available, org spend, project spend, month, grant, amount, …}
if ARGV[20] ~= '' and redis.call('GET', KEYS[9]) ~= ARGV[20] then return {0, 0, 0, 0, 0, 0} end
local a, g, gr = KEYS[1], KEYS[2], KEYS[3]
local proj, cost, exempt, mode = ARGV[2], n(ARGV[3]), ARGV[4] == '1', ARGV[5]
local held = redis.call('HGET', KEYS[4], ARGV[1])
local cap, amt = n(ARGV[18]), 0
if held then
  local rproj, ramt = string.match(held, '^[^\t]*\t([^\t]*)\t(%d+)$')
  amt = n(ramt)
  redis.call('HDEL', KEYS[4], ARGV[1])
  redis.call('SREM', KEYS[5], ARGV[1])
  cap, proj = amt, rproj
elseif redis.call('SREM', KEYS[8], ARGV[1]) == 0 and ARGV[19] ~= '1' then
  cost = 0 -- settled already (a retry whose first reply was lost)
end -- else: given back by a sweep while the request lived; charged all the same
if mode == 'release' then cost = 0 end
if cost > cap then cost = cap end -- a charge never exceeds its reservation
local left = cost
if exempt then left = 0 end
if left > 0 and mode == 'charge' then expire(a, g, gr) end
-- the account is read once and written once (the script is atomic: no one sees between)
local month = n(ARGV[6])
local v = redis.call('HMGET', a, 'res', 'r:' .. proj, 'sp', 's:' .. proj, 'm', 'cr', 'cons', 'ovd')
if n(v[5]) < month then
  roll(a, month)
  v[3], v[4], v[5] = 0, 0, month
end
local res, pres, sp, psp = n(v[1]) - amt, n(v[2]) - amt, n(v[3]) + cost, n(v[4]) + cost
local cr, cons, ovd = n(v[6]), n(v[7]), n(v[8])
local out = {0, 0, 0, 0, 0, 0}
if left > 0 and mode == 'charge' then
  local order = redis.call('ZRANGE', g, 0, -1)
  for _, m in ipairs(order) do
    local id = grant_id(m)
    local rem = n(redis.call('HGET', gr, id))
    local take = math.min(rem, left)
    if take > 0 then
      redis.call('HSET', gr, id, s(rem - take))
      out[#out + 1] = id
      out[#out + 1] = s(take)
      left = left - take
      cr, cons = cr - take, cons + take
    end
    if rem - take <= 0 then redis.call('ZREM', g, m) end
    if left <= 0 then break end
  end
end
-- cost no grant covers (credit expired or ran out mid-request) is overdraft
if left > 0 then ovd = ovd + left end
redis.call('HSET', a, 'res', s(res), 'r:' .. proj, s(pres), 'sp', s(sp), 's:' .. proj, s(psp),
           'cr', s(cr), 'cons', s(cons), 'ovd', s(ovd))

-- the token buckets get back what was reserved and not used (never more)
local give = n(ARGV[17]) - math.min(n(ARGV[8]), n(ARGV[17]))
if give > 0 then
  for i, base in ipairs({9, 13}) do
    local l = limits(base)
    if l and (l[3] > 0 or l[4] > 0) then
      local t = redis.call('HMGET', KEYS[5 + i], '3', '4')
      local f = {}
      for k = 3, 4 do
        if l[k] > 0 and t[k - 2] then
          f[#f + 1] = tostring(k)
          f[#f + 1] = string.format('%.3f', n(t[k - 2]) - give * W[k] / l[k])
        end
      end
      if #f > 0 then redis.call('HSET', KEYS[5 + i], unpack(f)) end
    end
  end
end
out[1] = s(cost)
out[2] = s(left)
out[3] = s(cr - ovd - res)
out[4], out[5], out[6] = s(sp), s(psp), s(math.max(n(v[5]), month))
return out
-- @script grant_claim
-- KEYS: account. ARGV: 1 amount, 2 the most an organisation may be granted in all.
-- Returns the overdraft this grant pays (claimed until grant_done), or -1: too large.
local a = KEYS[1]
local amount = n(ARGV[1])
local v = redis.call('HMGET', a, 'gr', 'ovd', 'clm')
if n(v[1]) + amount > n(ARGV[2]) then return -1 end
local owed = n(v[2]) - n(v[3])
local pay = 0
if owed > 0 then pay = math.min(owed, amount) end
redis.call('HINCRBY', a, 'clm', s(pay))
redis.call('HINCRBY', a, 'gr', s(amount))
return pay
-- @script grant_done
-- KEYS: account, grant order, grant remaining. ARGV: 1 grant id, 2 amount, 3 overdraft paid,
-- 4 committed (1) or rolled back (0), 5 order member, 6 expiry (s; 0 none).
local a, g, gr = KEYS[1], KEYS[2], KEYS[3]
local amount, pay = n(ARGV[2]), n(ARGV[3])
redis.call('HINCRBY', a, 'clm', s(-pay))
if ARGV[4] ~= '1' then
  redis.call('HINCRBY', a, 'gr', s(-amount))
  return 0
end
redis.call('HINCRBY', a, 'ovd', s(-pay))
redis.call('HINCRBY', a, 'cons', s(pay))
local rem = amount - pay
local exp = n(ARGV[6])
redis.call('HSET', gr, ARGV[1], s(rem))
if rem > 0 and (exp == 0 or exp > now_s) then
  local seq = redis.call('HINCRBY', a, 'seq', 1)
  redis.call('ZADD', g, 0, string.sub(ARGV[5], 1, 36) .. string.format('%012d', seq) .. '|' ..
             ARGV[1])
  redis.call('HINCRBY', a, 'cr', s(rem))
end
return 1
-- @script balance
-- KEYS: account, grant order, grant remaining. ARGV: 1 month, 2 project ('' for none).
-- Returns {available, reserved, granted, consumed, overdraft, org month spend + reserved,
--          project month spend + reserved, org limit, project limit}.
local a, g, gr = KEYS[1], KEYS[2], KEYS[3]
roll(a, n(ARGV[1]))
expire(a, g, gr)
local p = ARGV[2]
local v = redis.call('HMGET', a, 'cr', 'ovd', 'res', 'gr', 'cons', 'sp', 's:' .. p, 'r:' .. p,
                     'lim', 'l:' .. p)
return {s(n(v[1]) - n(v[2]) - n(v[3])), s(n(v[3])), s(n(v[4])), s(n(v[5])), s(n(v[2])),
        s(n(v[6]) + n(v[3])), s(n(v[7]) + n(v[8])), s(n(v[9])), s(n(v[10]))}
-- @script heartbeat
-- KEYS: instances. ARGV: 1 instance, 2 lease (ms). Renews the instance's lease.
redis.call('ZADD', KEYS[1], (now_s - 1700000000) * 1000 + math.floor(tonumber(clock[2]) / 1000)
           + n(ARGV[2]), ARGV[1])
return 1
-- @script sweep
-- KEYS: instances, reservations. ARGV: 1 prefix. Gives back the reservations of instances
-- whose lease ran out (kill -9, a lost host): at most 1000 per run. Returns {reservations
-- released, nano-dollars released}.
local now_ms = (now_s - 1700000000) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. s(now_ms), 'LIMIT', 0, 16)
local count, total = 0, 0
for _, inst in ipairs(dead) do
  local set = ARGV[1] .. 'ir:' .. inst
  local ids = redis.call('SRANDMEMBER', set, 1000 - count)
  for _, id in ipairs(ids) do
    local v = redis.call('HGET', KEYS[2], id)
    if v then
      local org, proj, amt = string.match(v, '^([^\t]*)\t([^\t]*)\t(%d+)$')
      amt = n(amt)
      local a = ARGV[1] .. 'a:' .. org
      redis.call('HINCRBY', a, 'res', s(-amt))
      redis.call('HINCRBY', a, 'r:' .. proj, s(-amt))
      redis.call('HDEL', KEYS[2], id)
      redis.call('SADD', ARGV[1] .. 'sw:' .. inst, id)
      redis.call('PEXPIRE', ARGV[1] .. 'sw:' .. inst, 86400000)
      total = total + amt
    end
    redis.call('SREM', set, id)
    count = count + 1
  end
  if redis.call('SCARD', set) == 0 then redis.call('ZREM', KEYS[1], inst) end
  if count >= 1000 then break end
end
return {count, s(total)}
