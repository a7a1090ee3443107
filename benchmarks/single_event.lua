-- wrk script of the single-event benchmark (benchmarks/ingest.py): one event per POST.
--   wrk ... URL -s benchmarks/single_event.lua -- TOKEN|- NONCE CUSTOMERS TOUCHPOINT,KEYS
-- Every request gets its own idempotency key (NONCE-thread-counter), so each creates one
-- interaction. 90 % of the events name an existing customer (CX00000000 … CX<CUSTOMERS-1>),
-- 10 % a new one; 90 % carry a touchpoint key when keys are given.

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  token = args[1]
  nonce = args[2]
  customers = tonumber(args[3])
  keys = {}
  for key in string.gmatch(args[4] or "", "[^,]+") do
    table.insert(keys, key)
  end
  counter = 0
  math.randomseed(tid * 7919 + 17)
  headers = { ["Content-Type"] = "application/json" }
  if token ~= "-" then
    headers["Authorization"] = "Bearer " .. token
  end
end

function request()
  counter = counter + 1
  local customer
  if math.random() < 0.1 then
    customer = string.format(
      '{"external_id":"ES%s-%d-%d","email":"es.%s.%d.%d@example.net","name":"Single %d"}',
      nonce, tid, counter, nonce, tid, counter, counter)
  else
    customer = string.format('{"external_id":"CX%08d"}', math.random(0, customers - 1))
  end
  local where
  if #keys > 0 and math.random() < 0.9 then
    where = string.format('"touchpoint":"%s"', keys[math.random(#keys)])
  else
    where = '"channel":"web"'
  end
  local number = math.random(1, 99999)
  local body = string.format(
    '{"kind":"page.viewed",%s,"customer":%s,"summary":"Viewed /products/%d",' ..
    '"data":{"ref":"A%d","source":"benchmark"},"idempotency_key":"single-%s-%d-%d"}',
    where, customer, number, number, nonce, tid, counter)
  return wrk.format("POST", nil, headers, body)
end
