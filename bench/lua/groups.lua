-- Writes: create a billing group for a random bulk customer, then delete it. A group is
-- deleted only once its creation has answered, so that every request can succeed; every
-- answer must be a 200.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")

setup, done = common.setup, common.done
local created = {}   -- paths of groups whose creation answered, to delete
local deleting = {}  -- group ids whose deletion is under way
local paths = {}     -- the path of every group whose creation is under way
local counter = 0

function init(args) common.init() end

function request()
    local headers = common.headers()
    local path = table.remove(created)
    if path then
        deleting[path:match("[^/]+$")] = true
        return wrk.format("DELETE", path, headers)
    end
    counter = counter + 1
    local group_id = string.format("W%d-%d", thread_number, counter)
    local groups = string.format("/v2/billing/customers/CLIENT_CODE/%d/bills/groups", common.random_customer())
    headers["Content-Type"] = "application/json"
    local body = string.format('{"groupId":"%s","address":"Bench street %d"}', group_id, counter)
    paths[group_id] = groups .. "/" .. group_id
    return wrk.format("POST", groups, headers, body)
end

function response(status, headers, body)
    common.response(status, headers, body)
    local group_id = body and body:match('"groupId":"([^"]+)"')
    if status ~= 200 or not group_id then return end
    if deleting[group_id] then
        deleting[group_id] = nil
    elseif paths[group_id] then
        created[#created + 1] = paths[group_id]
        paths[group_id] = nil
    end
end
