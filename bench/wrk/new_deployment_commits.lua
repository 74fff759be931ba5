-- POST /deployments with a new id each time, listing 20 commits (new shas
-- each time, so every commit is a new change when it ships).
-- Optional argument: "deployed" adds deployed_at, so the 20 changes ship in the same call.
local next_thread = 0

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  counter = 0
  run = tostring(os.time()) .. "-" .. tostring(math.random(1, 1e9))
  deployed = args[1] == "deployed"
  token = os.getenv("BENCH_TOKEN") or "bench"
end

function request()
  counter = counter + 1
  local id = string.format("c%s-%d-%d", run, tid, counter)
  local commits = {}
  for i = 1, 20 do
    commits[i] = string.format('{"sha":"%s-%02d","committed_at":%d}', id, i, 1714550400 + i * 60)
  end
  local extra = ""
  if deployed then
    extra = ',"deploy_start_at":1714554000,"deployed_at":1714557600'
  end
  local body = string.format('{"id":"%s","project_id":"api","commit_sha":"%s-20","commits":[%s]%s}',
    id, id, table.concat(commits, ","), extra)
  return wrk.format("POST", "/deployments", {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
