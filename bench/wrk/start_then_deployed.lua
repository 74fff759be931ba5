-- Pairs: POST /deployments (start) and, for a deployment started LAG
-- requests earlier on this thread, POST /deployments/{id}/deployed. LAG is
-- far above the connections per thread, so the start has been answered
-- before its deployed arrives (wrk counts any non-2xx, so a miss would show).
local LAG = 64
local next_thread = 0
function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end
function init(args)
  counter = 0
  run = tostring(os.time()) .. "-" .. tostring(math.random(1, 1e9))
  token = os.getenv("BENCH_TOKEN") or "bench"
  headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
end
function request()
  counter = counter + 1
  local k = math.floor(counter / 2)
  if counter % 2 == 1 or k <= LAG then
    local id = string.format("p%s-%d-%d", run, tid, counter)
    return wrk.format("POST", "/deployments", headers,
      string.format('{"id":"%s","project_id":"api","first_commit_at":1714550400}', id))
  end
  -- the start sent 2 * LAG requests ago (an odd counter)
  local started = counter - 2 * LAG - 1
  local id = string.format("p%s-%d-%d", run, tid, started)
  return wrk.format("POST", "/deployments/" .. id .. "/deployed", headers, "")
end
