-- Shared by the wrk scripts of bench/bench.py: settings from the environment, a random
-- generator seeded differently in every wrk thread, the bearer token header, and requests
-- built once so that the load generator spends as little as it can on each.
local common = {}

common.token = os.getenv("BENCH_TOKEN")
common.first_id = tonumber(os.getenv("BENCH_FIRST_ID") or "1000001")
common.customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "1")

-- Most customers whose requests a thread builds in advance (about 250 bytes each); with
-- more, each request is built when it is sent.
local PREBUILT_MAX = 200000

-- setup runs in wrk's main state, once per thread; it hands each thread its number, which
-- the thread sees as the global `thread_number`.
local threads = 0
function common.setup(thread)
    threads = threads + 1
    thread:set("thread_number", threads)
end

function common.init()
    math.randomseed((thread_number or 0) * 7919 + os.time())
end

function common.random_customer()
    return common.first_id + math.random(0, common.customers - 1)
end

function common.headers()
    return { ["Authorization"] = "Bearer " .. common.token }
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

return common
