-- GET /deployments/{id} over ids r-0 .. r-(N-1), N from the first argument.
function init(args)
  n = tonumber(args[1] or "10000")
  token = os.getenv("BENCH_TOKEN") or "bench"
  headers = {["Authorization"] = "Bearer " .. token}
end
function request()
  return wrk.format("GET", "/deployments/r-" .. tostring(math.random(0, n - 1)), headers)
end
