-- GET of a fixed path (first argument), authenticated.
function init(args)
  path = args[1] or "/health"
  headers = {["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "bench")}
end
function request()
  return wrk.format("GET", path, headers)
end
