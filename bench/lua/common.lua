-- Shared by the wrk scripts of the benchmark: settings from the environment, a random
-- generator seeded differently in every wrk thread, the bearer token header, requests
-- built once so that the load generator spends as little as it can on each, the check of
-- every answer's status against the one the row expects (BENCH_EXPECT, 200 by default),
-- and the summary printed as one JSON line for the benchmark to read.
local common = {}

common.token = os.getenv("BENCH_TOKEN")
common.first_id = tonumber(os.getenv("BENCH_FIRST_ID") or "1000001")
common.customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "1")
-- The statuses an answer may have, comma-separated (a client past its rate gets 200s and
-- 429s); the first is the one reported.
common.expected_text = os.getenv("BENCH_EXPECT") or "200"
common.expected = {}
for status in string.gmatch(common.expected_text, "%d+") do
    common.expected[tonumber(status)] = true
end

-- Most customers whose requests a thread builds in advance (about 250 bytes each); with
-- more, each request is built when it is sent.
local PREBUILT_MAX = 200000

-- setup runs in wrk's main state, once per thread; it hands each thread its number, which
-- the thread sees as the global `thread_number`, and keeps the thread for `done`.
local threads = {}
function common.setup(thread)
    threads[#threads + 1] = thread
    thread:set("thread_number", #threads)
end

function common.init()
    math.randomseed((thread_number or 0) * 7919 + os.time())
end

function common.random_customer()
    return common.first_id + math.random(0, common.customers - 1)
end

function common.headers()
    local headers = { ["Authorization"] = "Bearer " .. common.token }
    local encoding = os.getenv("BENCH_ACCEPT_ENCODING")
    if encoding then
        headers["Accept-Encoding"] = encoding
    end
    return headers
end

-- Seeds the thread's generator and returns a `request` function that answers the request
-- `build` makes for a random customer: built in advance for every customer, so that picking
-- one is all each request costs, unless there are more than PREBUILT_MAX customers.
function common.prebuilt(build)
    common.init()
    if common.customers > PREBUILT_MAX then
        return function()
            return build(common.random_customer())
        end
    end
    local requests = {}
    for index = 1, common.customers do
        requests[index] = build(common.first_id + index - 1)
    end
    return function()
        return requests[math.random(common.customers)]
    end
end

-- Counts, in each thread, the answers whose status is not an expected one, and the 200s.
unexpected = 0
first_unexpected = 0
ok = 0
function common.response(status, headers, body)
    if status == 200 then
        ok = ok + 1
    end
    if not common.expected[status] then
        unexpected = unexpected + 1
        if first_unexpected == 0 then
            first_unexpected = status
        end
    end
end

-- Prints the run's figures as one line, `BENCH_RESULT` and a JSON object: latencies in
-- microseconds, and every error wrk saw.
function common.done(summary, latency, requests)
    local unexpected_total, first, ok_total = 0, 0, 0
    for _, thread in ipairs(threads) do
        unexpected_total = unexpected_total + (thread:get("unexpected") or 0)
        ok_total = ok_total + (thread:get("ok") or 0)
        if first == 0 then
            first = thread:get("first_unexpected") or 0
        end
    end
    local errors = summary.errors
    io.write(string.format(
        'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "expected_status": "%s", ' ..
        '"ok": %d, "unexpected_statuses": %d, "first_unexpected_status": %d, "connect_errors": %d, ' ..
        '"read_errors": %d, "write_errors": %d, "timeouts": %d, "mean_us": %.1f, ' ..
        '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
        summary.requests, summary.duration, summary.bytes, common.expected_text,
        ok_total, unexpected_total, first, errors.connect, errors.read, errors.write, errors.timeout,
        latency.mean, latency:percentile(50), latency:percentile(99), latency.max))
end

return common
