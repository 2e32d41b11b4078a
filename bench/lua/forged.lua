-- GET the first page of bills of a random bulk customer with a made-up token of the real
-- shape (KEY_ID.RANDOM.MAC under key 1), a different one on every request of a thread's
-- 4,096: what a client without credentials can send. Every answer must be a 401
-- (BENCH_EXPECT).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local path = "/v2/billing/customers/CLIENT_CODE/%d/bills"
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

setup, response, done = common.setup, common.response, common.done
local requests = {}

local function random_text(length)
    local characters = {}
    for i = 1, length do
        local at = math.random(1, #alphabet)
        characters[i] = alphabet:sub(at, at)
    end
    return table.concat(characters)
end

function init(args)
    common.init()
    for i = 1, 4096 do
        local token = "1." .. random_text(43) .. "." .. random_text(43)
        requests[i] = wrk.format("GET", string.format(path, common.random_customer()),
            { ["Authorization"] = "Bearer " .. token })
    end
end

function request()
    return requests[math.random(#requests)]
end
