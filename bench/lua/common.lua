-- Shared by the wrk scripts of bench/bench.py: settings from the environment, a random
-- generator seeded differently in every wrk thread, the bearer token header, and requests
-- built once so that the load generator spends as little as it can on each.
local common = {}

common.token = os.getenv("BENCH_TOKEN")
common.first_id = tonumber(os.getenv("BENCH_FIRST_ID") or "1000001")
common.customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "1")

-- How many requests each thread builds in advance; each request picks one at random.
local PREBUILT = 8192

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

-- Seeds the thread's generator and returns a `request` function that answers one of
-- PREBUILT requests made by `build` (a function of a random customer), picked at random.
function common.prebuilt(build)
    common.init()
    local requests = {}
    local count = math.min(PREBUILT, common.customers)
    for index = 1, count do
        local customer = count == common.customers and common.first_id + index - 1
            or common.random_customer()
        requests[index] = build(customer)
    end
    return function()
        return requests[math.random(count)]
    end
end

return common
