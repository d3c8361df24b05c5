-- bench/run's wrk script. With an argument (`wrk ... -s wrk.lua URL -- body.json`) every
-- request is a POST of that file's content as JSON; without one, wrk's own GET. At the end it
-- prints one line, `bench-result {...}`, with the rate, latency percentiles (microseconds) and
-- error counts that bench/run reads.
init = function(args)
  if args[1] then
    local f = assert(io.open(args[1], "rb"))
    wrk.method = "POST"
    wrk.body = f:read("*a")
    f:close()
    wrk.headers["Content-Type"] = "application/json"
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'bench-result {"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"mean_us":%.1f,"status_errors":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, summary.requests / summary.duration * 1e6,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
    e.status, e.connect + e.read + e.write + e.timeout))
end
