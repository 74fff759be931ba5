-- Sends the pre-signed GitHub deliveries of bench/webhook_deliveries.py, each
-- once: thread N reads PREFIX.N. Argument: PREFIX. Each line names its own
-- X-GitHub-Event.
local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

function init(args)
  requests = {}
  for line in io.lines(args[1] .. "." .. tid) do
    local id, event, signature, body = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", "/webhooks/github", {
      ["Content-Type"] = "application/json",
      ["X-GitHub-Event"] = event,
      ["X-GitHub-Delivery"] = id,
      ["X-Hub-Signature-256"] = signature,
    }, body)
  end
  sent = 0
  wrapped = false
end

function request()
  sent = sent + 1
  if sent > #requests then
    -- Out of fresh deliveries: repeats would be answered as duplicates.
    wrapped = true
    sent = 1
  end
  return requests[sent]
end

function done(summary, latency, requests_)
  for _, t in ipairs(threads) do
    if t:get("wrapped") then
      io.write("   WARNING: a thread ran out of fresh deliveries; raise the count\n")
      return
    end
  end
end
