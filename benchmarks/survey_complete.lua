-- wrk script of the survey completion benchmark (benchmarks/surveys.py).
--   wrk -tT ... http://127.0.0.1:PORT/ -s benchmarks/survey_complete.lua -- FILE THREADS CSRF
-- FILE holds one completion per line: "<client address>\t</s/TOKEN/>\t<form body>", each with
-- its own personal invitation token and the whole answer set of an all-on-one-page survey; the
-- bodies carry CSRF as their form token, sent with the cookie "csrftoken=CSRF" (the value a GET
-- of the page set). Thread t of THREADS sends lines t, t+THREADS, t+2*THREADS, …, so no two
-- requests of a run share a token; a thread that reaches the end of its lines starts again (those
-- requests answer the thank-you page, and the benchmark reports the run as invalid).

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local step = tonumber(args[2])
  cookie = "csrftoken=" .. args[3]
  addresses, paths, bodies = {}, {}, {}
  local n = 0
  for line in io.lines(args[1]) do
    if n % step == tid then
      local a = string.find(line, "\t", 1, true)
      local b = string.find(line, "\t", a + 1, true)
      table.insert(addresses, string.sub(line, 1, a - 1))
      table.insert(paths, string.sub(line, a + 1, b - 1))
      table.insert(bodies, string.sub(line, b + 1))
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
    ["Cookie"] = cookie,
    ["X-Forwarded-For"] = addresses[i],
  }
  return wrk.format("POST", paths[i], headers, bodies[i])
end
