-- POST /deployments with a new id each time: one committed transaction per request.
-- Optional argument: "deployed" adds deployed_at (a single-call deployment).
local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  run = tostring(os.time()) .. "-" .. tostring(math.random(1, 1e9))
  deployed = args[1] == "deployed"
  token = os.getenv("BENCH_TOKEN") or "bench"
end

function request()
  counter = counter + 1
  local id = string.format("b%s-%d-%d", run, tid, counter)
  local body
  if deployed then
    body = string.format('{"id":"%s","project_id":"api","first_commit_at":1714550400,"deploy_start_at":1714554000,"deployed_at":1714557600}', id)
  else
    body = string.format('{"id":"%s","project_id":"api","first_commit_at":1714550400}', id)
  end
  return wrk.format("POST", "/deployments", {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
