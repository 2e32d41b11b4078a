-- Shared by the wrk scripts of bench/bench.py: settings from the environment, a random
-- generator seeded differently in every wrk thread, and the bearer token header.
local common = {}

common.token = os.getenv("BENCH_TOKEN")
common.first_id = tonumber(os.getenv("BENCH_FIRST_ID") or "1000001")
common.customers = tonumber(os.getenv("BENCH_CUSTOMERS") or "1")

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

return common
