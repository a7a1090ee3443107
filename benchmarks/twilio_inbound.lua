-- wrk script of the inbound-SMS webhook benchmark (benchmarks/inbox.py).
--   wrk -tT ... URL -s benchmarks/twilio_inbound.lua -- FILE THREADS
-- FILE holds one pre-signed request per line: "<X-Twilio-Signature>\t<form body>", each with its
-- own MessageSid (signed in Python with twilio's RequestValidator). Thread t of THREADS sends
-- lines t, t+THREADS, t+2*THREADS, …, so no two requests of a run share a line; a thread that
-- reaches the end of the file starts again (those requests are duplicates, which the benchmark
-- counts).

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local step = tonumber(args[2])
  sigs, bodies = {}, {}
  local n = 0
  for line in io.lines(args[1]) do
    if n % step == tid then
      local tab = string.find(line, "\t", 1, true)
      table.insert(sigs, string.sub(line, 1, tab - 1))
      table.insert(bodies, string.sub(line, tab + 1))
    end
    n = n + 1
  end
  counter = 0
end

function request()
  counter = counter + 1
  local i = (counter - 1) % #bodies + 1
  local headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Twilio-Signature"] = sigs[i],
  }
  return wrk.format("POST", nil, headers, bodies[i])
end
